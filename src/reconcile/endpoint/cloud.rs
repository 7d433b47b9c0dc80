//! Endpoints from the outputs of a cloud deployment: a CloudFormation stack's
//! (`aws cloudformation describe-stacks`) and an ARM deployment's (`az deployment group
//! show`). Outputs also carry ids and sizes; only those that say where the deployment is
//! reached become endpoints (see [`is_address`]).

use super::Endpoint;
use serde_json::Value;
use std::net::IpAddr;

/// The kind of a CloudFormation stack output that names an address.
pub const CLOUDFORMATION_OUTPUT: &str = "cloudformation/output";
/// The kind of an ARM deployment output that names an address.
pub const ARM_OUTPUT: &str = "arm/output";

/// Longer values are no address (a URL of a few hundred bytes at most); a template may
/// output anything, and what is kept here is stored and shown.
const ADDRESS_MAX: usize = 512;

/// Words of an output name that say its value is an address: `PrivateIp`,
/// `PublicDnsName`, `fqdn`, `serviceUrl`, `api_endpoint`, `hostName`.
const ADDRESS_WORDS: &[&str] = &[
    "ip", "ips", "ipv4", "ipv6", "address", "dns", "fqdn", "host", "hostname", "url", "uri",
    "endpoint",
];

/// Whether output `name` with `value` says where the deployment is reached: the value is
/// an IP address or an http(s) URL, or a word of the name is one of [`ADDRESS_WORDS`]
/// (so `InstanceId`, `vmSize` or `Membership` are not).
pub fn is_address(name: &str, value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() || value.len() > ADDRESS_MAX || value.chars().any(char::is_control) {
        return false;
    }
    if value.parse::<IpAddr>().is_ok()
        || value.starts_with("https://")
        || value.starts_with("http://")
    {
        return true;
    }
    words(name)
        .iter()
        .any(|w| ADDRESS_WORDS.contains(&w.as_str()))
}

/// The lowercase words of a camelCase, PascalCase, snake_case or kebab-case name; an
/// acronym is a word of its own (`privateIPAddress` is `private ip address`).
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            out.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
            continue;
        }
        let previous = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let starts_word = c.is_uppercase()
            && previous.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if starts_word && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    out.extend((!current.is_empty()).then_some(current));
    out
}

fn endpoints<'a>(kind: &str, outputs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = outputs
        .filter(|(name, value)| is_address(name, value))
        .map(|(name, value)| Endpoint {
            kind: kind.to_owned(),
            name: name.to_owned(),
            address: value.trim().to_owned(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The address outputs of `aws cloudformation describe-stacks --query Stacks[0].Outputs`:
/// a list of `{"OutputKey", "OutputValue", "Description", "ExportName"}` (`null` when the
/// stack has none).
pub fn cloudformation_outputs(outputs: &Value) -> Vec<Endpoint> {
    let pairs = outputs.as_array().into_iter().flatten().filter_map(|o| {
        Some((
            o.get("OutputKey")?.as_str()?,
            o.get("OutputValue")?.as_str()?,
        ))
    });
    endpoints(CLOUDFORMATION_OUTPUT, pairs)
}

/// The address outputs of `az deployment group show --query properties.outputs`: an
/// object of `{"<name>": {"type": "String", "value": …}}` (`null` when there are none).
/// Only string values can be addresses.
pub fn arm_outputs(outputs: &Value) -> Vec<Endpoint> {
    let pairs = outputs
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, o)| Some((name.as_str(), o.get("value")?.as_str()?)));
    endpoints(ARM_OUTPUT, pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shown(endpoints: &[Endpoint]) -> Vec<(&str, &str)> {
        endpoints
            .iter()
            .map(|e| (e.name.as_str(), e.address.as_str()))
            .collect()
    }

    #[test]
    fn the_aws_chart_outputs_yield_the_private_ip_only() {
        // The shape `describe-stacks` prints for the aws-ec2 chart's stack.
        let outputs = json!([
            {"OutputKey": "InstanceId", "OutputValue": "i-0abc123", "Description": "EC2 instance id"},
            {"OutputKey": "PrivateIp", "OutputValue": "10.0.1.25", "Description": "Private IPv4 address"},
            {"OutputKey": "InstanceType", "OutputValue": "t3.medium"},
            {"OutputKey": "SecurityGroupId", "OutputValue": "sg-0123", "ExportName": "lab-sg"}
        ]);
        let found = cloudformation_outputs(&outputs);
        assert_eq!(shown(&found), vec![("PrivateIp", "10.0.1.25")]);
        assert_eq!(found[0].kind, CLOUDFORMATION_OUTPUT);
        assert!(cloudformation_outputs(&Value::Null).is_empty());
        assert!(cloudformation_outputs(&json!([{"OutputKey": "PublicIp"}])).is_empty());
    }

    #[test]
    fn the_azure_chart_outputs_yield_the_private_ip_only() {
        let outputs = json!({
            "vmId": {"type": "String", "value": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/runner"},
            "vmSize": {"type": "String", "value": "Standard_B2s"},
            "privateIp": {"type": "String", "value": "10.1.0.4"},
            "ports": {"type": "Array", "value": [22, 443]}
        });
        let found = arm_outputs(&outputs);
        assert_eq!(shown(&found), vec![("privateIp", "10.1.0.4")]);
        assert_eq!(found[0].kind, ARM_OUTPUT);
        assert!(arm_outputs(&Value::Null).is_empty());
    }

    #[test]
    fn addresses_are_known_by_value_or_by_a_word_of_the_name() {
        assert!(is_address("Whatever", "fd00::7"));
        assert!(is_address("Console", "https://console.example/lab"));
        assert!(is_address(
            "PublicDnsName",
            "ec2-1-2-3-4.compute.amazonaws.com"
        ));
        assert!(is_address("api_endpoint", "api.lab.example:6443"));
        assert!(is_address("load-balancer-host", "lb.example"));
        assert!(!is_address("Membership", "gold"), "no word is `ip`");
        assert!(!is_address("InstanceId", "i-0abc"));
        assert!(!is_address("PrivateIp", ""));
        assert!(!is_address("PrivateIp", "10.0.0.1\n<script>"));
        assert!(!is_address("Url", &"a".repeat(ADDRESS_MAX + 1)));
    }

    #[test]
    fn names_split_into_words_in_every_case_style() {
        assert_eq!(words("PublicDnsName"), ["public", "dns", "name"]);
        assert_eq!(words("privateIPAddress"), ["private", "ip", "address"]);
        assert_eq!(words("vmId"), ["vm", "id"]);
        assert_eq!(words("api_endpoint-v2"), ["api", "endpoint", "v2"]);
        assert_eq!(words("ipv4"), ["ipv4"]);
    }
}
