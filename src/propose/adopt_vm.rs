//! Adoption of a Proxmox VM (pure): a QEMU VM created outside homelabd, as the Proxmox VE
//! API reports it (`/nodes/{node}/qemu/{vmid}/config`), turned into a UniversalResource
//! for the `proxmox-compute` chart that states it as it runs — node, cores, memory, boot
//! disk (interface, datastore, size), network (bridge, VLAN), CPU type, BIOS, OS type,
//! start at boot, guest agent, tags — and names it in `adopt` (`{vmid, node}`), so the
//! rendered Terraform imports the VM instead of creating one.
//!
//! What the chart cannot state (more disks or networks, passthrough devices, several
//! sockets, memory ballooning) is named in the notes, with what the first apply would do
//! about it; nothing is silently dropped.

use serde_json::{Map, Value, json};

/// Where and how the adopted VM is defined.
#[derive(Debug, Clone, PartialEq)]
pub struct VmOptions<'a> {
    /// The resource name (a DNS-1123 label).
    pub name: &'a str,
    /// The Proxmox pool whose nodes include the VM's node.
    pub pool: &'a str,
    /// An existing WorkloadType.
    pub workload_type: &'a str,
}

/// The VM as the API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveVm<'a> {
    pub vmid: u64,
    pub node: &'a str,
    /// `running`, `stopped`, …
    pub status: &'a str,
    /// `GET /nodes/{node}/qemu/{vmid}/config`.
    pub config: &'a Map<String, Value>,
}

/// The definition and what a reviewer must know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct VmAdoption {
    /// The UniversalResource document.
    pub document: Value,
    /// The VM's name in Proxmox (empty when it has none).
    pub vm_name: String,
    /// What the definition could not carry over, or what the first apply changes.
    pub notes: Vec<String>,
}

/// Why a VM cannot be adopted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdoptVmError {
    #[error("VM {vmid} is a template: templates are cloned, not adopted")]
    Template { vmid: u64 },
    #[error("VM {vmid} has no disk the chart can state (scsi0, virtio0 or sata0 style)")]
    NoDisk { vmid: u64 },
    #[error("VM {vmid}: {key} is {value}, not {expected}")]
    Field {
        vmid: u64,
        key: String,
        value: String,
        expected: &'static str,
    },
}

/// Disk buses the chart's module can attach its one disk to.
const DISK_BUSES: &[&str] = &["scsi", "virtio", "sata"];

/// `key=value,…` properties of a Proxmox property string; a leading bare value comes back
/// under the key `""`.
fn properties(text: &str) -> Vec<(&str, &str)> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or(("", p)))
        .collect()
}

fn prop<'a>(props: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    props.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A size as Proxmox writes it (`32G`, `512M`, `1T`, bare bytes) in bytes.
pub fn size_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = match t
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '.')
    {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: f64 = digits.parse().ok()?;
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    Some((n * scale as f64).round() as u64)
}

fn number(config: &Map<String, Value>, key: &str) -> Option<Value> {
    config.get(key).cloned()
}

/// An integer configuration key (numbers may arrive as strings), or `default`.
fn int(vm: &LiveVm<'_>, key: &str, default: u64) -> Result<u64, AdoptVmError> {
    match number(vm.config, key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(default)),
        Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().unwrap_or(default)),
        Some(other) => Err(AdoptVmError::Field {
            vmid: vm.vmid,
            key: key.to_owned(),
            value: other.to_string(),
            expected: "an integer",
        }),
    }
}

fn text<'a>(vm: &'a LiveVm<'_>, key: &str) -> Option<&'a str> {
    vm.config.get(key).and_then(Value::as_str)
}

/// `memory`: MiB as a number or the property string `[current=]<MiB>[,…]`.
fn memory_mb(vm: &LiveVm<'_>) -> Result<u64, AdoptVmError> {
    let bad = |v: &Value| AdoptVmError::Field {
        vmid: vm.vmid,
        key: "memory".into(),
        value: v.to_string(),
        expected: "[current=]<MiB>",
    };
    match vm.config.get("memory") {
        None | Some(Value::Null) => Ok(512),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| bad(&Value::Number(n.clone()))),
        Some(v @ Value::String(s)) => properties(s)
            .iter()
            .find(|(k, _)| k.is_empty() || *k == "current")
            .and_then(|(_, mb)| mb.parse().ok())
            .ok_or_else(|| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

/// The boot disk: the first disk in `boot: order=…`, else the first of scsi/virtio/sata
/// by bus and number. Media (CD-ROM, cloud-init drives) are not disks.
fn boot_disk<'a>(vm: &'a LiveVm<'_>) -> Option<(&'a str, &'a str)> {
    let is_disk = |key: &str| -> Option<&'a str> {
        let bus = key.trim_end_matches(|c: char| c.is_ascii_digit());
        if !DISK_BUSES.contains(&bus) || bus.len() == key.len() {
            return None;
        }
        let value = text(vm, key)?;
        let props = properties(value);
        let media = prop(&props, "media").unwrap_or("disk");
        (media == "disk" && !value.contains("cloudinit")).then_some(value)
    };
    let order = text(vm, "boot")
        .map(properties)
        .and_then(|p| prop(&p, "order").map(str::to_owned));
    if let Some(order) = order {
        for key in order.split(';') {
            if let Some((k, v)) = vm.config.get_key_value(key)
                && v.is_string()
                && let Some(value) = is_disk(k)
            {
                return Some((k.as_str(), value));
            }
        }
    }
    let mut disks: Vec<(&str, &str)> = vm
        .config
        .keys()
        .filter_map(|k| is_disk(k).map(|v| (k.as_str(), v)))
        .collect();
    disks.sort_by_key(|(k, _)| {
        let bus = k.trim_end_matches(|c: char| c.is_ascii_digit());
        let n: u32 = k[bus.len()..].parse().unwrap_or(u32::MAX);
        (DISK_BUSES.iter().position(|b| *b == bus), n)
    });
    disks.first().copied()
}

/// The definition of `vm`; see the module docs.
pub fn definition(vm: &LiveVm<'_>, opts: &VmOptions<'_>) -> Result<VmAdoption, AdoptVmError> {
    if int(vm, "template", 0)? == 1 {
        return Err(AdoptVmError::Template { vmid: vm.vmid });
    }
    let mut notes = Vec::new();
    let mut values = Map::new();
    let vm_name = text(vm, "name").unwrap_or_default().to_owned();
    if vm_name != opts.name {
        notes.push(format!(
            "the VM is named {vm_name:?}; the chart names it after the resource, so the first apply renames it to {}",
            opts.name
        ));
    }

    // CPU and memory.
    let cores = int(vm, "cores", 1)?;
    let sockets = int(vm, "sockets", 1)?;
    if sockets > 1 {
        notes.push(format!(
            "the VM has {sockets} sockets of {cores} cores; the chart's module states cores on one socket, so the first apply would leave it {cores} vCPUs — raise requirements.cpu to {} before applying to keep them",
            cores * sockets
        ));
    }
    let memory = memory_mb(vm)?;
    if let Some(balloon) = vm.config.get("balloon").filter(|b| !b.is_null()) {
        notes.push(format!(
            "memory ballooning (balloon: {balloon}) is not stated by the chart; the first apply sets it as the module does"
        ));
    }
    let cpu_type = text(vm, "cpu")
        .map(properties)
        .and_then(|p| {
            prop(&p, "")
                .or_else(|| prop(&p, "cputype"))
                .map(str::to_owned)
        })
        // qemu-server's default when the key is absent.
        .unwrap_or_else(|| "kvm64".to_owned());
    values.insert("cpu_type".into(), json!(cpu_type));
    values.insert("bios".into(), json!(text(vm, "bios").unwrap_or("seabios")));
    if let Some(os) = text(vm, "ostype") {
        values.insert("os_type".into(), json!(os));
    }

    // The boot disk.
    let (disk_key, disk) = boot_disk(vm).ok_or(AdoptVmError::NoDisk { vmid: vm.vmid })?;
    let disk_props = properties(disk);
    let volume = prop(&disk_props, "").unwrap_or("");
    if let Some((store, _)) = volume.split_once(':') {
        values.insert("datastore".into(), json!(store));
    } else {
        notes.push(format!(
            "disk {disk_key} ({volume}) names no datastore; the chart's default is used"
        ));
    }
    values.insert("disk_interface".into(), json!(disk_key));
    let bytes = prop(&disk_props, "size").and_then(size_bytes).unwrap_or(0);
    const GIB: u64 = 1 << 30;
    let storage_gb = bytes.div_ceil(GIB).max(1);
    if !bytes.is_multiple_of(GIB) {
        notes.push(format!(
            "disk {disk_key} is {bytes} bytes, not whole GiB; the definition says {storage_gb} GB, so the first apply grows it to that"
        ));
    }
    for key in vm.config.keys() {
        let bus = key.trim_end_matches(|c: char| c.is_ascii_digit());
        let is_bus = bus.len() < key.len() && matches!(bus, "scsi" | "virtio" | "sata" | "ide");
        if is_bus && key != disk_key {
            let value = text(vm, key).unwrap_or_default();
            let media = prop(&properties(value), "media").unwrap_or("disk");
            if media == "disk" && !value.contains("cloudinit") {
                notes.push(format!(
                    "disk {key} ({}) is not stated by the chart (one disk per VM); check the plan of the first apply before it runs",
                    prop(&properties(value), "").unwrap_or(value)
                ));
            }
        }
    }

    // Network: net0 only.
    let mut network = "default".to_owned();
    if let Some(net) = text(vm, "net0") {
        let p = properties(net);
        if let Some(bridge) = prop(&p, "bridge") {
            values.insert("bridge".into(), json!(bridge));
            if let Some(tag) = prop(&p, "tag") {
                let vlan: u64 = tag.parse().map_err(|_| AdoptVmError::Field {
                    vmid: vm.vmid,
                    key: "net0 tag".into(),
                    value: tag.to_owned(),
                    expected: "a VLAN id",
                })?;
                network = format!("vlan{vlan}");
                values.insert(
                    "networks".into(),
                    json!({ &network: {"bridge": bridge, "vlan_id": vlan} }),
                );
            }
        }
        let model = p.first().map(|(k, _)| *k).unwrap_or("");
        if model != "virtio" {
            notes.push(format!(
                "net0 is a {model} device; the chart's module attaches virtio, so the first apply changes its model"
            ));
        }
    } else {
        notes.push("the VM has no net0; the chart's module attaches one".into());
    }
    let mut extra_nets: Vec<&String> = vm
        .config
        .keys()
        .filter(|k| k.starts_with("net") && k.as_str() != "net0")
        .collect();
    extra_nets.sort();
    for k in extra_nets {
        notes.push(format!(
            "{k} is not stated by the chart (one network device per VM); check the plan of the first apply before it runs"
        ));
    }
    let mut passthrough: Vec<&String> = vm
        .config
        .keys()
        .filter(|k| k.starts_with("hostpci"))
        .collect();
    passthrough.sort();
    if !passthrough.is_empty() {
        notes.push(format!(
            "{} passed through; the definition asks for no GPU, so set requirements.gpu (and the chart's gpu_mapping) before the first apply",
            passthrough
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    // Start at boot, guest agent, tags.
    values.insert("start_on_boot".into(), json!(int(vm, "onboot", 0)? == 1));
    let agent = text(vm, "agent")
        .map(|a| {
            let p = properties(a);
            prop(&p, "enabled").or_else(|| prop(&p, "")) == Some("1")
        })
        .or_else(|| {
            vm.config
                .get("agent")
                .and_then(Value::as_u64)
                .map(|a| a == 1)
        })
        .unwrap_or(false);
    values.insert("qemu_agent".into(), json!(agent));
    let written: Vec<&str> = text(vm, "tags")
        .unwrap_or_default()
        .split([';', ',', ' '])
        .filter(|t| !t.is_empty())
        .collect();
    let upper: Vec<&str> = written
        .iter()
        .copied()
        .filter(|t| t.chars().any(char::is_uppercase))
        .collect();
    if !upper.is_empty() {
        notes.push(format!(
            "tags {} are written in lower case by the chart's module, so the first apply changes their case",
            upper.join(", ")
        ));
    }
    let tags: Vec<String> = written.iter().map(|t| t.to_lowercase()).collect();
    if !tags.is_empty() {
        values.insert("tags".into(), json!(tags));
    }
    if vm.status != "running" {
        notes.push(format!(
            "the VM is {}; the chart keeps its VMs started, so the first apply starts it",
            vm.status
        ));
    }
    values.insert("adopt".into(), json!({"vmid": vm.vmid, "node": vm.node}));

    let mut requirements = Map::new();
    requirements.insert("cpu".into(), json!(cores));
    requirements.insert("memory_gb".into(), json!(memory as f64 / 1024.0));
    requirements.insert("storage_gb".into(), json!(storage_gb));
    if network != "default" {
        requirements.insert("network".into(), json!(network));
    }
    let label = if vm_name.is_empty() {
        String::new()
    } else {
        format!(" ({vm_name})")
    };
    let document = json!({
        "apiVersion": "homelab.ai/v1",
        "kind": "UniversalResource",
        "metadata": {
            "name": opts.name,
            "annotations": {"homelab.ai/adopted-from": format!("proxmox VM {}{label} on {}", vm.vmid, vm.node)},
        },
        "spec": {
            "resource_type": "compute",
            "workload_type": opts.workload_type,
            "requirements": requirements,
            "placement": {"provider": "proxmox", "pool": opts.pool, "node": vm.node},
            "chart": {"name": "proxmox-compute", "values": values},
            // Deleting the file of an adopted VM never destroys it by accident.
            "policy": {"prune": false},
        },
    });
    Ok(VmAdoption {
        document,
        vm_name,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Map<String, Value> {
        json!({
            "name": "legacy-nas", "memory": "6144", "cores": 2, "sockets": 1,
            "cpu": "x86-64-v2-AES", "bios": "ovmf", "ostype": "l26", "onboot": 1,
            "agent": "enabled=1,fstrim_cloned_disks=1", "tags": "nas;Storage",
            "boot": "order=virtio0;ide2;net0",
            "ide2": "local:iso/debian.iso,media=cdrom",
            "scsi1": "tank:vm-990-disk-1,size=500G",
            "virtio0": "local-zfs:vm-990-disk-0,iothread=1,size=40G",
            "net0": "virtio=BC:24:11:00:00:99,bridge=vmbr1,tag=20,firewall=1",
            "digest": "abc",
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn opts() -> VmOptions<'static> {
        VmOptions {
            name: "legacy-nas",
            pool: "/homelab/compute/general",
            workload_type: "web-application",
        }
    }

    fn live(c: &Map<String, Value>) -> LiveVm<'_> {
        LiveVm {
            vmid: 990,
            node: "pve-02",
            status: "running",
            config: c,
        }
    }

    #[test]
    fn the_definition_states_the_vm_as_it_runs() {
        let c = config();
        let a = definition(&live(&c), &opts()).unwrap();
        let spec = &a.document["spec"];
        assert_eq!(
            spec["requirements"],
            json!({"cpu": 2, "memory_gb": 6.0, "storage_gb": 40, "network": "vlan20"})
        );
        assert_eq!(
            spec["placement"],
            json!({"provider": "proxmox", "pool": "/homelab/compute/general", "node": "pve-02"})
        );
        let v = &spec["chart"]["values"];
        assert_eq!(v["adopt"], json!({"vmid": 990, "node": "pve-02"}));
        assert_eq!(v["disk_interface"], "virtio0", "the boot order decides");
        assert_eq!(v["datastore"], "local-zfs");
        assert_eq!(v["bridge"], "vmbr1");
        assert_eq!(
            v["networks"],
            json!({"vlan20": {"bridge": "vmbr1", "vlan_id": 20}})
        );
        assert_eq!(v["cpu_type"], "x86-64-v2-AES");
        assert_eq!(v["bios"], "ovmf");
        assert_eq!(v["start_on_boot"], true);
        assert_eq!(v["qemu_agent"], true);
        assert_eq!(v["tags"], json!(["nas", "storage"]));
        assert!(
            a.notes
                .iter()
                .any(|n| n.contains("tags Storage are written in lower case")),
            "{:?}",
            a.notes
        );
        assert_eq!(spec["policy"]["prune"], false);
        // The second disk is named, the CD-ROM is not a disk.
        assert!(
            a.notes
                .iter()
                .any(|n| n.contains("disk scsi1 (tank:vm-990-disk-1)")),
            "{:?}",
            a.notes
        );
        assert!(!a.notes.iter().any(|n| n.contains("ide2")), "{:?}", a.notes);
    }

    #[test]
    fn what_the_first_apply_would_change_is_named() {
        let mut c = config();
        c.insert("sockets".into(), json!(2));
        c.insert("memory".into(), json!("current=3000,shares=500"));
        c.insert("hostpci0".into(), json!("0000:01:00.0,pcie=1"));
        c.insert("net0".into(), json!("e1000=BC:24:11:00:00:99,bridge=vmbr0"));
        c.insert(
            "virtio0".into(),
            json!("local-zfs:vm-990-disk-0,size=1536M"),
        );
        let mut vm = live(&c);
        vm.status = "stopped";
        let a = definition(
            &vm,
            &VmOptions {
                name: "nas",
                ..opts()
            },
        )
        .unwrap();
        let r = &a.document["spec"]["requirements"];
        assert_eq!(r["memory_gb"], json!(3000.0 / 1024.0));
        assert_eq!(r["storage_gb"], 2);
        assert!(r.get("network").is_none());
        let notes = a.notes.join("\n");
        for word in [
            "2 sockets",
            "hostpci0",
            "e1000",
            "1610612736 bytes",
            "is stopped",
            "renames it to nas",
        ] {
            assert!(notes.contains(word), "{word}: {notes}");
        }
    }

    #[test]
    fn templates_and_unreadable_values_are_refused() {
        let mut c = config();
        c.insert("template".into(), json!(1));
        assert_eq!(
            definition(&live(&c), &opts()),
            Err(AdoptVmError::Template { vmid: 990 })
        );
        let mut c = config();
        c.insert("cores".into(), json!("many"));
        assert!(matches!(
            definition(&live(&c), &opts()),
            Err(AdoptVmError::Field { key, .. }) if key == "cores"
        ));
        let mut c = config();
        c.remove("virtio0");
        c.remove("scsi1");
        assert_eq!(
            definition(&live(&c), &opts()),
            Err(AdoptVmError::NoDisk { vmid: 990 })
        );
    }

    #[test]
    fn sizes_in_every_unit() {
        assert_eq!(size_bytes("32G"), Some(32 << 30));
        assert_eq!(size_bytes("512M"), Some(512 << 20));
        assert_eq!(size_bytes("1T"), Some(1 << 40));
        assert_eq!(size_bytes("1.5G"), Some(3 << 29));
        assert_eq!(size_bytes("4096"), Some(4096));
        assert_eq!(size_bytes("G"), None);
        assert_eq!(size_bytes("3X"), None);
    }
}
