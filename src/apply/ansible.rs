//! Ansible after Terraform: the `ansible-playbook` command and the inventory "the plan
//! produced".
//!
//! The rendered `ansible/inventory.yml` names one host per replica and carries the
//! groups and variables the playbook needs, but it can only guess how a new VM is
//! reached (its name, resolved by DNS). Terraform knows better once it has applied: the
//! charts' `vms` output lists every VM with its primary IPv4 address. The inventory used
//! for the run is therefore the rendered one with `ansible_host` set from that output
//! (written to the work directory as [`GENERATED_INVENTORY`]); without such an output
//! the rendered inventory is used as it is.

use super::Cmd;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rendered directory's Ansible sub-directory (and the playbook's working directory).
pub const PLAYBOOK_DIR: &str = "ansible";
/// The playbook inside [`PLAYBOOK_DIR`].
pub const PLAYBOOK: &str = "playbook.yml";
/// The rendered inventory inside [`PLAYBOOK_DIR`].
pub const RENDERED_INVENTORY: &str = "inventory.yml";
/// The inventory built from terraform's output, at the top of the work directory.
pub const GENERATED_INVENTORY: &str = "homelabd-inventory.yml";
/// Ansible's local temporary files and ssh control sockets, at the top of the work
/// directory (the daemon's home may be read-only under systemd hardening).
pub const LOCAL_TEMP_DIR: &str = ".ansible";

/// `ansible-playbook -i <inventory> playbook.yml`, run in the work directory's copy of
/// the rendered `ansible/` with its `ansible.cfg`.
pub fn playbook_cmd(binary: &Path, work_dir: &Path, inventory: &Path) -> Cmd {
    let play_dir = work_dir.join(PLAYBOOK_DIR);
    let temp = work_dir.join(LOCAL_TEMP_DIR);
    Cmd::new(
        [
            binary.display().to_string(),
            "-i".to_owned(),
            inventory.display().to_string(),
            PLAYBOOK.to_owned(),
        ],
        &play_dir,
    )
    .env(
        "ANSIBLE_CONFIG",
        play_dir.join("ansible.cfg").display().to_string(),
    )
    .env("ANSIBLE_NOCOLOR", "1")
    .env("ANSIBLE_LOCAL_TEMP", temp.join("tmp").display().to_string())
    .env(
        "ANSIBLE_SSH_CONTROL_PATH_DIR",
        temp.join("cp").display().to_string(),
    )
}

/// Why an inventory could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InventoryError {
    #[error("the rendered inventory is not YAML: {0}")]
    Yaml(String),
    #[error("the rendered inventory is not a mapping of groups")]
    NotAMapping,
    #[error("terraform output vms: expected a list of objects with a \"name\", found {0}")]
    Hosts(String),
}

/// The hosts of terraform's `vms` output: name → primary IPv4 address, if known.
pub fn hosts_from_output(
    vms: &serde_json::Value,
) -> Result<BTreeMap<String, Option<String>>, InventoryError> {
    let list = vms
        .as_array()
        .ok_or_else(|| InventoryError::Hosts(json_type(vms).to_owned()))?;
    list.iter()
        .map(|vm| {
            let name = vm
                .get("name")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| InventoryError::Hosts(vm.to_string()))?;
            let address = vm
                .get("ipv4_address")
                .and_then(serde_json::Value::as_str)
                .filter(|a| !a.is_empty())
                .map(str::to_owned);
            Ok((name.to_owned(), address))
        })
        .collect()
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The rendered inventory with `ansible_host` of every host named in `vms` set to the
/// address terraform reported (hosts without a known address keep the rendered one).
/// VMs the rendered inventory does not name are added to `all.hosts`, so they are in
/// the inventory even though no rendered group targets them.
pub fn inventory_from_hosts(
    rendered: &str,
    vms: &serde_json::Value,
) -> Result<String, InventoryError> {
    let hosts = hosts_from_output(vms)?;
    let mut inventory: Value =
        serde_yaml::from_str(rendered).map_err(|e| InventoryError::Yaml(e.to_string()))?;
    let groups = inventory
        .as_mapping_mut()
        .ok_or(InventoryError::NotAMapping)?;
    let mut seen = BTreeSet::new();
    for (_, group) in groups.iter_mut() {
        set_addresses(group, &hosts, &mut seen);
    }
    let unseen: Vec<(&String, &Option<String>)> = hosts
        .iter()
        .filter(|(name, _)| !seen.contains(*name))
        .collect();
    let all_hosts = if unseen.is_empty() {
        None
    } else {
        child_mapping(groups, "all").and_then(|all| child_mapping(all, "hosts"))
    };
    if let Some(all_hosts) = all_hosts {
        for (name, address) in unseen {
            let mut vars = Mapping::new();
            if let Some(address) = address {
                vars.insert("ansible_host".into(), address.as_str().into());
            }
            all_hosts.insert(name.as_str().into(), Value::Mapping(vars));
        }
    }
    let body =
        serde_yaml::to_string(&inventory).map_err(|e| InventoryError::Yaml(e.to_string()))?;
    Ok(format!(
        "# Written by homelabd: the rendered inventory with the addresses terraform reported (output \"vms\").\n{body}"
    ))
}

/// Sets `ansible_host` in `group`'s hosts and, recursively, its children's.
fn set_addresses(
    group: &mut Value,
    hosts: &BTreeMap<String, Option<String>>,
    seen: &mut BTreeSet<String>,
) {
    let Some(group) = group.as_mapping_mut() else {
        return;
    };
    if let Some(members) = group.get_mut("hosts").and_then(Value::as_mapping_mut) {
        for (name, vars) in members.iter_mut() {
            let Some(name) = name.as_str() else { continue };
            let Some(address) = hosts.get(name) else {
                continue;
            };
            seen.insert(name.to_owned());
            let Some(address) = address else { continue };
            if !vars.is_mapping() {
                *vars = Value::Mapping(Mapping::new());
            }
            if let Some(vars) = vars.as_mapping_mut() {
                vars.insert("ansible_host".into(), address.as_str().into());
            }
        }
    }
    if let Some(children) = group.get_mut("children").and_then(Value::as_mapping_mut) {
        for (_, child) in children.iter_mut() {
            set_addresses(child, hosts, seen);
        }
    }
}

/// `map[key]` as a mapping, created (or replacing a non-mapping) when needed.
fn child_mapping<'m>(map: &'m mut Mapping, key: &str) -> Option<&'m mut Mapping> {
    if !map.get(key).is_some_and(Value::is_mapping) {
        map.insert(key.into(), Value::Mapping(Mapping::new()));
    }
    map.get_mut(key).and_then(Value::as_mapping_mut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RENDERED: &str = r#"
all:
  children:
    "homelab_web":
      hosts:
        "web-1":
          ansible_host: "web-1"
          homelab_replica: 1
        "web-2":
          ansible_host: "web-2"
          homelab_replica: 2
      vars:
        ansible_user: "homelab"
"#;

    fn host_vars<'v>(inv: &'v Value, host: &str) -> &'v Value {
        &inv["all"]["children"]["homelab_web"]["hosts"][host]
    }

    #[test]
    fn addresses_from_terraform_replace_the_guessed_host_names() {
        let vms = json!([
            {"name": "web-1", "node_name": "pve-1", "vm_id": 101, "ipv4_address": "10.0.0.11"},
            {"name": "web-2", "node_name": "pve-2", "vm_id": 102, "ipv4_address": null},
        ]);
        let text = inventory_from_hosts(RENDERED, &vms).unwrap();
        let inv: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(host_vars(&inv, "web-1")["ansible_host"], "10.0.0.11");
        // Unknown address: the rendered name stays (it must resolve).
        assert_eq!(host_vars(&inv, "web-2")["ansible_host"], "web-2");
        // Everything else the playbook relies on is kept.
        assert_eq!(host_vars(&inv, "web-2")["homelab_replica"], 2);
        assert_eq!(
            inv["all"]["children"]["homelab_web"]["vars"]["ansible_user"],
            "homelab"
        );
        assert!(inv["all"].get("hosts").is_none());
    }

    #[test]
    fn unsafe_tags_of_the_rendered_inventory_survive_the_merge() {
        // The charts tag values holding `{` as `!unsafe` so Ansible never templates them;
        // losing the tag here would make a definition's `{{ lookup(...) }}` run again.
        let rendered = "all:\n  children:\n    web:\n      hosts:\n        web-1:\n          homelab_node: !unsafe \"{{ lookup('pipe', 'id') }}\"\n      vars:\n        ansible_user: !unsafe \"{{ x }}\"\n        extra: !unsafe [\"{% if %}\"]\n";
        let vms = json!([{"name": "web-1", "ipv4_address": "10.0.0.11"}]);
        let text = inventory_from_hosts(rendered, &vms).unwrap();
        let inv: Value = serde_yaml::from_str(&text).unwrap();
        let unsafe_value = |v: &Value| match v {
            Value::Tagged(t) if t.tag == "!unsafe" => t.value.clone(),
            other => panic!("not tagged !unsafe: {other:?} in\n{text}"),
        };
        let web = &inv["all"]["children"]["web"];
        assert_eq!(
            unsafe_value(&web["hosts"]["web-1"]["homelab_node"]),
            "{{ lookup('pipe', 'id') }}"
        );
        assert_eq!(unsafe_value(&web["vars"]["ansible_user"]), "{{ x }}");
        assert_eq!(
            unsafe_value(&web["vars"]["extra"]),
            serde_yaml::from_str::<Value>("['{% if %}']").unwrap()
        );
        assert_eq!(web["hosts"]["web-1"]["ansible_host"], "10.0.0.11");
    }

    #[test]
    fn a_vm_the_rendered_inventory_does_not_name_is_added_to_all() {
        let vms = json!([{"name": "web-3", "ipv4_address": "10.0.0.13"}]);
        let text = inventory_from_hosts(RENDERED, &vms).unwrap();
        let inv: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(inv["all"]["hosts"]["web-3"]["ansible_host"], "10.0.0.13");
    }

    #[test]
    fn a_host_without_variables_gets_a_mapping() {
        let rendered = "servers:\n  hosts:\n    db-1:\n";
        let vms = json!([{"name": "db-1", "ipv4_address": "192.168.1.5"}]);
        let inv: Value =
            serde_yaml::from_str(&inventory_from_hosts(rendered, &vms).unwrap()).unwrap();
        assert_eq!(
            inv["servers"]["hosts"]["db-1"]["ansible_host"],
            "192.168.1.5"
        );
    }

    #[test]
    fn an_output_that_is_not_a_host_list_is_refused_with_what_was_found() {
        assert_eq!(
            hosts_from_output(&json!({"web-1": "10.0.0.1"})),
            Err(InventoryError::Hosts("an object".into()))
        );
        let err = hosts_from_output(&json!([{"ipv4_address": "10.0.0.1"}])).unwrap_err();
        assert!(
            err.to_string().contains("\"ipv4_address\":\"10.0.0.1\""),
            "{err}"
        );
        assert_eq!(
            inventory_from_hosts("- a\n- b\n", &json!([])),
            Err(InventoryError::NotAMapping)
        );
    }

    #[test]
    fn the_playbook_runs_in_the_ansible_dir_with_its_config_and_no_colour() {
        let work = Path::new("/state/work/proxmox/web");
        let cmd = playbook_cmd(
            Path::new("/opt/venv/bin/ansible-playbook"),
            work,
            &work.join(GENERATED_INVENTORY),
        );
        assert_eq!(
            cmd.argv,
            [
                "/opt/venv/bin/ansible-playbook",
                "-i",
                "/state/work/proxmox/web/homelabd-inventory.yml",
                "playbook.yml"
            ]
        );
        assert_eq!(cmd.cwd, work.join("ansible"));
        assert_eq!(
            cmd.env["ANSIBLE_CONFIG"],
            "/state/work/proxmox/web/ansible/ansible.cfg"
        );
        assert_eq!(cmd.env["ANSIBLE_NOCOLOR"], "1");
        assert_eq!(
            cmd.env["ANSIBLE_LOCAL_TEMP"],
            "/state/work/proxmox/web/.ansible/tmp"
        );
    }
}
