//! The pure core of Proxmox drift: which cluster VM is which expected VM, and how each
//! pair differs. No IO: the observer fetches, these functions decide.

use super::api::{ClusterResource, VmConfig, normalise_pci_id, split_tags};
use super::expected::{ExpectedState, ExpectedVm};
use crate::observe::{Deviation, DeviationKind, Severity};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const REAPPLY: &str = "re-apply terraform";

/// A QEMU VM as `/cluster/resources` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterVm {
    pub vmid: u64,
    pub name: String,
    pub node: String,
    /// `running`, `stopped`, or `unknown` while its node is offline.
    pub status: String,
    pub tags: Vec<String>,
    pub template: bool,
}

impl ClusterVm {
    /// The QEMU guests among cluster resources (containers are not VMs: no chart
    /// creates them, so they are neither expected nor reported as unmanaged).
    pub fn from_resources(items: &[ClusterResource]) -> Vec<ClusterVm> {
        let mut vms: Vec<ClusterVm> = items
            .iter()
            .filter(|r| r.kind == "qemu")
            .filter_map(|r| {
                Some(ClusterVm {
                    vmid: r.vmid?,
                    name: r.name.clone().unwrap_or_default(),
                    node: r.node.clone()?,
                    status: r.status.clone().unwrap_or_else(|| "unknown".into()),
                    tags: split_tags(r.tags.as_deref().unwrap_or("")),
                    template: r.template.unwrap_or(false),
                })
            })
            .collect();
        vms.sort_by_key(|v| v.vmid);
        vms
    }
}

/// One target's expected VMs, each with the cluster VM found for it (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetMatch {
    pub resource: String,
    pub vms: Vec<(ExpectedVm, Option<ClusterVm>)>,
}

/// The outcome of matching every target against the cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matching {
    pub targets: Vec<TargetMatch>,
    /// VMs no target accounts for (templates excluded).
    pub unmanaged: Vec<ClusterVm>,
}

/// Finds each expected VM in the cluster: by VMID when the chart pinned one, else by
/// name (preferring the expected node, then the lowest VMID). A VM is claimed once.
/// VMs named like a resource in `unreadable` (its expected state could not be read) are
/// left unclaimed but not reported: not knowing is not the same as unmanaged.
pub fn match_vms(
    expected: &[(String, ExpectedState)],
    unreadable: &[String],
    cluster: &[ClusterVm],
) -> Matching {
    let by_vmid: BTreeMap<u64, &ClusterVm> = cluster.iter().map(|v| (v.vmid, v)).collect();
    let mut by_name: BTreeMap<&str, Vec<&ClusterVm>> = BTreeMap::new();
    for vm in cluster.iter().filter(|c| !c.template) {
        by_name.entry(vm.name.as_str()).or_default().push(vm);
    }
    let mut claimed: BTreeSet<u64> = BTreeSet::new();
    let mut found: BTreeMap<(usize, usize), &ClusterVm> = BTreeMap::new();
    // Pinned VMIDs first, so a name match never takes a VM another target pinned.
    for (t, (_, state)) in expected.iter().enumerate() {
        for (i, vm) in state.vms.iter().enumerate() {
            if let Some(id) = vm.vm_id
                && let Some(actual) = by_vmid.get(&id)
                && claimed.insert(id)
            {
                found.insert((t, i), actual);
            }
        }
    }
    for (t, (_, state)) in expected.iter().enumerate() {
        for (i, vm) in state.vms.iter().enumerate() {
            if vm.vm_id.is_some() {
                continue;
            }
            let best = by_name
                .get(vm.name.as_str())
                .into_iter()
                .flatten()
                .filter(|c| !claimed.contains(&c.vmid))
                .min_by_key(|c| (c.node != vm.node_name, c.vmid));
            if let Some(best) = best {
                claimed.insert(best.vmid);
                found.insert((t, i), best);
            }
        }
    }
    let targets = expected
        .iter()
        .enumerate()
        .map(|(t, (resource, state))| TargetMatch {
            resource: resource.clone(),
            vms: state
                .vms
                .iter()
                .enumerate()
                .map(|(i, vm)| (vm.clone(), found.get(&(t, i)).map(|c| (*c).clone())))
                .collect(),
        })
        .collect();
    let unmanaged = cluster
        .iter()
        .filter(|c| !c.template && !claimed.contains(&c.vmid))
        .filter(|c| !unreadable.iter().any(|r| could_belong_to(&c.name, r)))
        .cloned()
        .collect();
    Matching { targets, unmanaged }
}

/// The chart names replicas `<resource>`, `<resource>-2`, `<resource>-3`, …
fn could_belong_to(vm_name: &str, resource: &str) -> bool {
    vm_name == resource
        || vm_name
            .strip_prefix(resource)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Kind, severity and whether re-applying corrects it: the class of a deviation.
type Class = (DeviationKind, Severity, bool);

const CONFIG_DRIFT: Class = (DeviationKind::ConfigDrift, Severity::Warning, true);

fn deviation(
    resource: &str,
    key: String,
    (kind, severity, auto_correctable): Class,
    corrective_action: &str,
    (expected, actual): (Value, Value),
    message: String,
) -> Deviation {
    Deviation {
        resource: resource.to_owned(),
        key,
        kind,
        severity,
        auto_correctable,
        corrective_action: corrective_action.to_owned(),
        expected,
        actual,
        message,
    }
}

/// An expected VM that is not on the cluster.
pub fn missing(resource: &str, vm: &ExpectedVm) -> Deviation {
    let message = match vm.vm_id {
        Some(id) => format!("{}: VM {id} does not exist on the cluster", vm.name),
        None => format!("{}: no VM of that name exists on the cluster", vm.name),
    };
    deviation(
        resource,
        format!("vm/{}", vm.name),
        (DeviationKind::Missing, Severity::Critical, true),
        REAPPLY,
        (serde_json::to_value(vm).unwrap_or(Value::Null), Value::Null),
        message,
    )
}

/// Why a resource none of whose VMs this cluster has is not reported missing: it was
/// applied to another Proxmox VE endpoint (its pool's `endpoint`) than the one observed
/// (`[proxmox] url`). `None` when they are the same API or the resource names none. (Any
/// node of one cluster answers for all of it, so a resource whose VMs are found is
/// observed whatever node its endpoint names.)
pub fn applied_elsewhere(observed: &str, applied_to: Option<&str>) -> Option<String> {
    let norm = |url: &str| {
        let t = url.trim().trim_end_matches('/');
        t.strip_suffix("/api2/json")
            .unwrap_or(t)
            .trim_end_matches('/')
            .to_ascii_lowercase()
    };
    let applied = applied_to?;
    (norm(applied) != norm(observed)).then(|| {
        format!(
            "applied to the Proxmox VE API at {applied}, which this daemon does not observe \
             (it reads [proxmox] url {}): its VMs are not on that cluster, and drift of other \
             clusters is not observed",
            norm(observed)
        )
    })
}

/// A VM that no target accounts for. Never suggests deleting it: homelabd did not
/// create it.
pub fn unmanaged(vm: &ClusterVm) -> Deviation {
    let name = if vm.name.is_empty() {
        String::new()
    } else {
        format!(" ({})", vm.name)
    };
    deviation(
        &format!("proxmox:vm/{}", vm.vmid),
        format!("vm/{}", vm.vmid),
        (DeviationKind::Unmanaged, Severity::Info, false),
        "import into git or remove by hand",
        (Value::Null, serde_json::to_value(vm).unwrap_or(Value::Null)),
        format!("VM {}{name} on {} is not defined in git", vm.vmid, vm.node),
    )
}

/// Every difference between an expected VM and the cluster VM found for it.
pub fn compare(
    resource: &str,
    exp: &ExpectedVm,
    vm: &ClusterVm,
    config: &VmConfig,
) -> Vec<Deviation> {
    let mut out = Vec::new();
    let key = |what: &str| format!("vm/{}/{what}", exp.name);
    let drift = |what: &str, expected: Value, actual: Value, message: String| {
        deviation(
            resource,
            key(what),
            CONFIG_DRIFT,
            REAPPLY,
            (expected, actual),
            format!("{}: {message}", exp.name),
        )
    };
    let actual_name = config.name.as_deref().unwrap_or(&vm.name);
    if actual_name != exp.name {
        out.push(drift(
            "name",
            json!({ "name": exp.name }),
            json!({ "name": actual_name }),
            format!(
                "VM {} is named {actual_name:?}, expected {:?}",
                vm.vmid, exp.name
            ),
        ));
    }
    if vm.node != exp.node_name {
        out.push(deviation(
            resource,
            key("node"),
            (DeviationKind::ResourceChange, Severity::Warning, false),
            &format!(
                "migrate it back to {} by hand (qm migrate); re-applying terraform would replace the VM",
                exp.node_name
            ),
            (
                json!({ "node_name": exp.node_name }),
                json!({ "node_name": vm.node }),
            ),
            format!("{}: runs on {}, expected {}", exp.name, vm.node, exp.node_name),
        ));
    }
    if exp.started && vm.status == "stopped" {
        out.push(deviation(
            resource,
            key("status"),
            (DeviationKind::ResourceChange, Severity::Warning, true),
            "start it, or re-apply terraform (it keeps the VM started)",
            (
                json!({ "status": "running" }),
                json!({ "status": vm.status }),
            ),
            format!("{}: is stopped, expected running", exp.name),
        ));
    }
    if config.memory_mb != exp.memory_mb {
        out.push(drift(
            "memory",
            json!({ "memory_mb": exp.memory_mb }),
            json!({ "memory_mb": config.memory_mb }),
            format!(
                "memory is {} MiB, expected {} MiB",
                config.memory_mb, exp.memory_mb
            ),
        ));
    }
    if config.cores != exp.cores {
        out.push(drift(
            "cores",
            json!({ "cores": exp.cores }),
            json!({ "cores": config.cores }),
            format!("cores is {}, expected {}", config.cores, exp.cores),
        ));
    }
    let want: BTreeSet<&str> = exp.tags.iter().map(String::as_str).collect();
    // A tag homelabd adds itself is never unexpected (see `before_import`).
    let have: BTreeSet<&str> = config
        .tags
        .iter()
        .map(String::as_str)
        .filter(|t| want.contains(t) || !exp.added_tags.iter().any(|a| a == t))
        .collect();
    if want != have {
        let missing: Vec<&str> = want.difference(&have).copied().collect();
        let extra: Vec<&str> = have.difference(&want).copied().collect();
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            parts.push(format!("unexpected {}", extra.join(", ")));
        }
        out.push(drift(
            "tags",
            json!({ "tags": want }),
            json!({ "tags": have }),
            format!("tags differ: {}", parts.join("; ")),
        ));
    }
    if config.on_boot != exp.on_boot {
        let word = |b: bool| if b { "on" } else { "off" };
        out.push(drift(
            "on_boot",
            json!({ "on_boot": exp.on_boot }),
            json!({ "on_boot": config.on_boot }),
            format!(
                "start at boot is {}, expected {}",
                word(config.on_boot),
                word(exp.on_boot)
            ),
        ));
    }
    let (ids, mappings) = config.passthrough();
    let absent_ids: Vec<String> = exp
        .gpu_pci_ids
        .iter()
        .map(|id| normalise_pci_id(id))
        .filter(|id| !ids.contains(id))
        .collect();
    let absent_mapping = exp.gpu_mapping.as_ref().filter(|m| !mappings.contains(m));
    if !absent_ids.is_empty() || absent_mapping.is_some() {
        let what: Vec<String> = absent_ids
            .iter()
            .map(|id| format!("GPU {id}"))
            .chain(absent_mapping.map(|m| format!("GPU mapping {m}")))
            .collect();
        let has = if config.hostpci.is_empty() {
            "no hostpci devices".to_owned()
        } else {
            format!("hostpci: {}", config.hostpci.join(" | "))
        };
        out.push(drift(
            "gpu",
            json!({ "gpu_pci_ids": exp.gpu_pci_ids, "gpu_mapping": exp.gpu_mapping }),
            json!({ "hostpci": config.hostpci }),
            format!("{} not passed through ({has})", what.join(", ")),
        ));
    }
    out
}

/// An adopted VM before its first apply (no terraform state yet): compared without the
/// tags homelabd adds itself and with its own tags in lower case, since that apply
/// imports the VM and writes its tags as the module does (added, lower case), in place.
/// Everything else the definition states (node, cores, memory, start at boot, name) is
/// what the VM already is, so it is compared as usual.
pub fn before_import(exp: &ExpectedVm, config: &VmConfig) -> (ExpectedVm, VmConfig) {
    let mut e = exp.clone();
    e.tags.retain(|t| !exp.added_tags.contains(t));
    let mut c = config.clone();
    c.tags = c.tags.iter().map(|t| t.to_lowercase()).collect();
    c.tags.sort();
    c.tags.dedup();
    (e, c)
}

/// What the cluster reports for one expected VM, for `Observation::actual`.
pub fn actual_json(exp: &ExpectedVm, vm: Option<&ClusterVm>, config: Option<&VmConfig>) -> Value {
    match (vm, config) {
        (Some(vm), Some(c)) => json!({
            "name": exp.name,
            "vmid": vm.vmid,
            "node_name": vm.node,
            "status": vm.status,
            "cores": c.cores,
            "sockets": c.sockets,
            "memory_mb": c.memory_mb,
            "tags": c.tags,
            "on_boot": c.on_boot,
            "hostpci": c.hostpci,
        }),
        (Some(vm), None) => json!({
            "name": exp.name,
            "vmid": vm.vmid,
            "node_name": vm.node,
            "status": vm.status,
        }),
        (None, _) => json!({ "name": exp.name, "missing": true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(name: &str, node: &str) -> ExpectedVm {
        ExpectedVm {
            name: name.into(),
            node_name: node.into(),
            vm_id: None,
            cores: 4,
            memory_mb: 8192,
            disk_size_gb: 100,
            tags: vec!["backup".into(), "homelabd".into(), "site-home".into()],
            on_boot: true,
            started: true,
            gpu_pci_ids: vec![],
            gpu_mapping: None,
            adopted: false,
            added_tags: vec![],
        }
    }

    fn state(resource: &str, vms: Vec<ExpectedVm>) -> (String, ExpectedState) {
        (
            resource.into(),
            ExpectedState {
                format: 1,
                resource: resource.into(),
                provider: "proxmox".into(),
                vms,
            },
        )
    }

    fn vm(vmid: u64, name: &str, node: &str) -> ClusterVm {
        ClusterVm {
            vmid,
            name: name.into(),
            node: node.into(),
            status: "running".into(),
            tags: vec![],
            template: false,
        }
    }

    fn config_like(e: &ExpectedVm) -> VmConfig {
        VmConfig {
            name: Some(e.name.clone()),
            memory_mb: e.memory_mb,
            cores: e.cores,
            sockets: 1,
            on_boot: e.on_boot,
            tags: e.tags.clone(),
            hostpci: e
                .gpu_pci_ids
                .iter()
                .map(|id| format!("{id},pcie=1"))
                .collect(),
            template: false,
        }
    }

    #[test]
    fn a_vm_configured_as_rendered_has_no_deviations() {
        let e = exp("web", "pve-01");
        assert!(compare("web", &e, &vm(100, "web", "pve-01"), &config_like(&e)).is_empty());
    }

    #[test]
    fn memory_changed_by_hand_is_config_drift_with_both_values() {
        let e = exp("web", "pve-01");
        let c = VmConfig {
            memory_mb: 16384,
            ..config_like(&e)
        };
        let found = compare("web", &e, &vm(100, "web", "pve-01"), &c);
        assert_eq!(found.len(), 1);
        let d = &found[0];
        assert_eq!(
            (d.key.as_str(), d.kind),
            ("vm/web/memory", DeviationKind::ConfigDrift)
        );
        assert_eq!(d.expected, json!({"memory_mb": 8192}));
        assert_eq!(d.actual, json!({"memory_mb": 16384}));
        assert!(
            d.message.contains("memory is 16384 MiB, expected 8192 MiB"),
            "{}",
            d.message
        );
        assert!(d.auto_correctable && d.corrective_action == REAPPLY);
    }

    #[test]
    fn cores_tags_and_onboot_each_get_a_stable_key() {
        let e = exp("web", "pve-01");
        let c = VmConfig {
            cores: 8,
            on_boot: false,
            tags: vec!["homelabd".into(), "site-home".into(), "scratch".into()],
            ..config_like(&e)
        };
        let found = compare("web", &e, &vm(100, "web", "pve-01"), &c);
        let keys: Vec<&str> = found.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["vm/web/cores", "vm/web/tags", "vm/web/on_boot"]);
        assert!(
            found[1]
                .message
                .contains("missing backup; unexpected scratch"),
            "{}",
            found[1].message
        );
        assert!(
            found[2]
                .message
                .contains("start at boot is off, expected on")
        );
    }

    #[test]
    fn a_vm_on_another_node_or_stopped_is_a_resource_change() {
        let e = exp("web", "pve-01");
        let mut actual = vm(100, "web", "pve-02");
        actual.status = "stopped".into();
        let found = compare("web", &e, &actual, &config_like(&e));
        let kinds: Vec<(&str, DeviationKind, bool)> = found
            .iter()
            .map(|d| (d.key.as_str(), d.kind, d.auto_correctable))
            .collect();
        assert_eq!(
            kinds,
            [
                ("vm/web/node", DeviationKind::ResourceChange, false),
                ("vm/web/status", DeviationKind::ResourceChange, true),
            ]
        );
        assert!(found[0].message.contains("runs on pve-02, expected pve-01"));
        // A VM whose node is offline reports `unknown`: that is not "stopped".
        actual.status = "unknown".into();
        actual.node = "pve-01".into();
        assert!(compare("web", &e, &actual, &config_like(&e)).is_empty());
    }

    #[test]
    fn a_gpu_that_is_no_longer_passed_through_is_drift() {
        let e = ExpectedVm {
            gpu_pci_ids: vec!["0000:01:00.0".into()],
            ..exp("ai", "pve-gpu-01")
        };
        let mut c = config_like(&e);
        assert!(compare("ai", &e, &vm(110, "ai", "pve-gpu-01"), &c).is_empty());
        c.hostpci = vec!["01:00.0,pcie=1".into()];
        assert!(
            compare("ai", &e, &vm(110, "ai", "pve-gpu-01"), &c).is_empty(),
            "domain optional"
        );
        c.hostpci.clear();
        let found = compare("ai", &e, &vm(110, "ai", "pve-gpu-01"), &c);
        assert_eq!(found[0].key, "vm/ai/gpu");
        assert!(
            found[0]
                .message
                .contains("GPU 0000:01:00.0 not passed through (no hostpci devices)"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn an_adopted_vm_lacks_only_homelabds_own_tags_until_its_first_apply() {
        let e = ExpectedVm {
            vm_id: Some(990),
            tags: vec!["homelabd".into(), "nas".into(), "site-home".into()],
            adopted: true,
            added_tags: vec!["homelabd".into(), "site-home".into()],
            ..exp("legacy-nas", "pve-02")
        };
        let mut c = config_like(&e);
        c.tags = vec!["nas".into()];
        let actual = vm(990, "legacy-nas", "pve-02");
        // Before the import: its own tags are all it must have, in any case.
        c.tags = vec!["NAS".into()];
        let (b, bc) = before_import(&e, &c);
        assert!(compare("nas", &b, &actual, &bc).is_empty());
        c.tags = vec!["nas".into()];
        // After it, homelabd's tags are expected like any other.
        let found = compare("nas", &e, &actual, &c);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].message.contains("missing homelabd, site-home"));
        // A tag of its own removed by hand is drift either way; memory too.
        c.tags = vec!["homelabd".into()];
        c.memory_mb = 1024;
        let (b, bc) = before_import(&e, &c);
        let found = compare("nas", &b, &actual, &bc);
        let keys: Vec<&str> = found.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["vm/legacy-nas/memory", "vm/legacy-nas/tags"]);
        assert!(
            found[1].message.contains("missing nas"),
            "{}",
            found[1].message
        );
        assert!(
            !found[1].message.contains("unexpected"),
            "{}",
            found[1].message
        );
    }

    #[test]
    fn vms_are_matched_by_name_preferring_the_expected_node() {
        let targets = [state("web", vec![exp("web", "pve-02")])];
        let cluster = [vm(100, "web", "pve-01"), vm(101, "web", "pve-02")];
        let m = match_vms(&targets, &[], &cluster);
        assert_eq!(m.targets[0].vms[0].1.as_ref().map(|v| v.vmid), Some(101));
        assert_eq!(
            m.unmanaged.iter().map(|v| v.vmid).collect::<Vec<_>>(),
            [100],
            "the twin is not accounted for"
        );
    }

    #[test]
    fn a_pinned_vmid_wins_over_names_and_is_claimed_once() {
        let pinned = ExpectedVm {
            vm_id: Some(300),
            ..exp("db", "pve-01")
        };
        let targets = [
            state("db", vec![pinned]),
            state("cache", vec![exp("db-copy", "pve-01")]),
        ];
        let cluster = [vm(300, "renamed", "pve-01"), vm(301, "db", "pve-01")];
        let m = match_vms(&targets, &[], &cluster);
        assert_eq!(m.targets[0].vms[0].1.as_ref().map(|v| v.vmid), Some(300));
        assert!(m.targets[1].vms[0].1.is_none(), "db-copy does not exist");
        assert_eq!(
            m.unmanaged.iter().map(|v| v.vmid).collect::<Vec<_>>(),
            [301]
        );
        // The renamed VM is reported as drift of its name.
        let e = &m.targets[0].vms[0].0;
        let found = compare(
            "db",
            e,
            &cluster[0],
            &VmConfig {
                name: Some("renamed".into()),
                ..config_like(e)
            },
        );
        assert_eq!(found[0].key, "vm/db/name");
    }

    #[test]
    fn templates_are_never_matched_by_name_nor_unmanaged() {
        let mut template = vm(9000, "web", "pve-01");
        template.template = true;
        let m = match_vms(
            &[state("web", vec![exp("web", "pve-01")])],
            &[],
            &[template],
        );
        assert!(m.targets[0].vms[0].1.is_none());
        assert!(m.unmanaged.is_empty());
    }

    #[test]
    fn vms_of_an_unreadable_target_are_not_called_unmanaged() {
        let cluster = [
            vm(100, "web", "pve-01"),
            vm(101, "web-2", "pve-02"),
            vm(102, "webapp", "pve-01"),
        ];
        let m = match_vms(&[], &["web".to_owned()], &cluster);
        assert_eq!(
            m.unmanaged.iter().map(|v| v.vmid).collect::<Vec<_>>(),
            [102]
        );
    }

    #[test]
    fn missing_and_unmanaged_deviations_say_what_to_do() {
        let d = missing("web", &exp("web", "pve-01"));
        assert_eq!(
            (d.key.as_str(), d.kind, d.severity),
            ("vm/web", DeviationKind::Missing, Severity::Critical)
        );
        assert!(d.auto_correctable && d.corrective_action == REAPPLY);
        let u = unmanaged(&vm(105, "scratch", "pve-02"));
        assert_eq!(
            (u.resource.as_str(), u.key.as_str()),
            ("proxmox:vm/105", "vm/105")
        );
        assert_eq!(
            (u.kind, u.severity, u.auto_correctable),
            (DeviationKind::Unmanaged, Severity::Info, false)
        );
        assert_eq!(u.corrective_action, "import into git or remove by hand");
        assert!(!u.corrective_action.contains("delete"));
        assert_eq!(
            u.message,
            "VM 105 (scratch) on pve-02 is not defined in git"
        );
    }

    #[test]
    fn only_qemu_guests_are_vms() {
        let items: Vec<ClusterResource> = serde_json::from_value(json!([
            {"id": "lxc/200", "type": "lxc", "vmid": 200, "node": "pve-01", "name": "dns", "status": "running"},
            {"id": "qemu/100", "type": "qemu", "vmid": 100, "node": "pve-01", "name": "web", "status": "running", "tags": "b;a", "template": 0},
        ]))
        .unwrap();
        let vms = ClusterVm::from_resources(&items);
        assert_eq!(vms.len(), 1);
        assert_eq!(vms[0].tags, ["a", "b"]);
    }

    #[test]
    fn a_resource_on_another_endpoint_is_not_reported_missing_from_this_one() {
        let observed = "https://pve.home.arpa:8006/api2/json";
        assert_eq!(applied_elsewhere(observed, None), None);
        assert_eq!(
            applied_elsewhere(observed, Some("https://PVE.home.arpa:8006/")),
            None
        );
        let why = applied_elsewhere(observed, Some("https://pve-b.home.arpa:8006/")).unwrap();
        assert!(
            why.starts_with("applied to the Proxmox VE API at https://pve-b.home.arpa:8006/"),
            "{why}"
        );
        assert!(why.contains("https://pve.home.arpa:8006"), "{why}");
    }
}
