//! The Proxmox VE API's JSON shapes (the `data` of each endpoint homelabd reads) and the
//! parsing of the property strings inside a VM's configuration.
//!
//! Field names and units follow the API viewer: sizes are bytes, `cpu` is a fraction of
//! `maxcpu`, booleans arrive as `0`/`1`, and a VM's `memory` is MiB as an integer or as
//! the property string `[current=]<MiB>`. Numbers are accepted as strings too, since
//! some endpoints return them that way.

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One entry of `GET /cluster/resources` (`type=vm|node|storage`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClusterResource {
    /// `qemu/100`, `lxc/101`, `node/pve-01`, `storage/pve-01/local-lvm`.
    pub id: String,
    /// `qemu`, `lxc`, `node`, `storage`, `pool`, `sdn`, …
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub vmid: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    /// `running` / `stopped` for guests (`unknown` while their node is offline),
    /// `online` / `offline` for nodes, `available` for storage.
    #[serde(default)]
    pub status: Option<String>,
    /// `;`-separated.
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub template: Option<bool>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub cpu: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub maxcpu: Option<f64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub mem: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub disk: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxdisk: Option<u64>,
    #[serde(default)]
    pub storage: Option<String>,
    #[serde(default)]
    pub plugintype: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub shared: Option<bool>,
}

/// One entry of `GET /nodes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeEntry {
    pub node: String,
    /// `online`, `offline` or `unknown`.
    pub status: String,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub cpu: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub maxcpu: Option<f64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub mem: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub uptime: Option<u64>,
}

/// One entry of `GET /storage` (the storage configuration, cluster-wide).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StorageEntry {
    pub storage: String,
    /// `dir`, `lvmthin`, `zfspool`, `nfs`, `cephfs`, `rbd`, `pbs`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Comma-separated content types (`images,rootdir`).
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub shared: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub disable: Option<bool>,
    /// Comma-separated nodes the storage is limited to (absent: all).
    #[serde(default)]
    pub nodes: Option<String>,
}

/// One entry of `GET /nodes/{node}/qemu` or `GET /nodes/{node}/lxc`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GuestEntry {
    #[serde(deserialize_with = "required_u64")]
    pub vmid: u64,
    #[serde(default)]
    pub name: Option<String>,
    pub status: String,
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub template: Option<bool>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub cpus: Option<f64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxmem: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub maxdisk: Option<u64>,
}

/// One entry of `GET /nodes/{node}/hardware/pci`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PciDevice {
    /// `0000:01:00.0`.
    pub id: String,
    /// `0x030000`: the first byte is the base class (`0x03` display controller).
    pub class: String,
    pub vendor: String,
    pub device: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub iommugroup: Option<i64>,
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub mdev: Option<bool>,
}

impl PciDevice {
    /// A display controller (VGA, 3D, other): PCI base class 0x03.
    pub fn is_gpu(&self) -> bool {
        let class = self.class.trim_start_matches("0x").trim_start_matches("0X");
        class.len() == 6 && class.starts_with("03")
    }
}

/// The parts of `GET /nodes/{node}/qemu/{vmid}/config` that drift is checked on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VmConfig {
    pub name: Option<String>,
    /// MiB (`memory`, default 512).
    pub memory_mb: u64,
    /// Cores per socket (`cores`, default 1).
    pub cores: u64,
    pub sockets: u64,
    /// `onboot` (default off).
    pub on_boot: bool,
    /// Sorted, without duplicates.
    pub tags: Vec<String>,
    /// `hostpci0..N` values as written (`0000:01:00.0,pcie=1`, `mapping=gpu,pcie=1`).
    pub hostpci: Vec<String>,
    pub template: bool,
}

impl VmConfig {
    /// Reads the documented keys of a config object; a key of the wrong shape is an
    /// error naming it.
    pub fn from_api(config: &Map<String, Value>) -> Result<VmConfig, DecodeError> {
        let bad = |key: &str, value: &Value, expected: &'static str| DecodeError::Field {
            key: key.to_owned(),
            value: value.clone(),
            expected,
        };
        let memory_mb = match config.get("memory") {
            None | Some(Value::Null) => 512,
            Some(v) => parse_memory(v).ok_or_else(|| bad("memory", v, "[current=]<MiB>"))?,
        };
        let int = |key: &str, default: u64| -> Result<u64, DecodeError> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => as_u64(v).ok_or_else(|| bad(key, v, "an integer")),
            }
        };
        let flag = |key: &str| -> Result<bool, DecodeError> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(v) => as_bool(v).ok_or_else(|| bad(key, v, "0 or 1")),
            }
        };
        let mut hostpci: Vec<(u32, String)> = config
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("hostpci")?.parse::<u32>().ok()?;
                Some((n, v.as_str()?.to_owned()))
            })
            .collect();
        hostpci.sort();
        Ok(VmConfig {
            name: config
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            memory_mb,
            cores: int("cores", 1)?,
            sockets: int("sockets", 1)?,
            on_boot: flag("onboot")?,
            tags: split_tags(config.get("tags").and_then(Value::as_str).unwrap_or("")),
            hostpci: hostpci.into_iter().map(|(_, v)| v).collect(),
            template: flag("template")?,
        })
    }

    /// The PCI addresses passed through, with the domain filled in (`0000:`), and the
    /// resource mappings used.
    pub fn passthrough(&self) -> (Vec<String>, Vec<String>) {
        let mut ids = Vec::new();
        let mut mappings = Vec::new();
        for entry in &self.hostpci {
            for (i, part) in entry.split(',').enumerate() {
                let (key, value) = match part.split_once('=') {
                    Some((k, v)) => (k.trim(), v.trim()),
                    // The first, unnamed part is the `host` key.
                    None if i == 0 => ("host", part.trim()),
                    None => continue,
                };
                match key {
                    "host" => ids.extend(value.split(';').map(normalise_pci_id)),
                    "mapping" => mappings.push(value.to_owned()),
                    _ => {}
                }
            }
        }
        (ids, mappings)
    }
}

/// `01:00.0` → `0000:01:00.0`; lower case.
pub fn normalise_pci_id(id: &str) -> String {
    let id = id.trim().to_ascii_lowercase();
    if id.matches(':').count() == 1 {
        format!("0000:{id}")
    } else {
        id
    }
}

/// A tag list as Proxmox writes it (`;`, also `,` or spaces), sorted and unique.
pub fn split_tags(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = text
        .split([';', ',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// `8192`, `"8192"` or `"current=8192"` → 8192.
fn parse_memory(v: &Value) -> Option<u64> {
    if let Some(n) = as_u64(v) {
        return Some(n);
    }
    let text = v.as_str()?;
    text.split(',').find_map(|part| match part.split_once('=') {
        Some(("current", n)) => n.trim().parse().ok(),
        Some(_) => None,
        None => part.trim().parse().ok(),
    })
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        Value::String(s) => match s.trim() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn lenient<'de, D: Deserializer<'de>, T>(
    d: D,
    convert: fn(&Value) -> Option<T>,
    what: &str,
) -> Result<Option<T>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => convert(&v)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{v}: expected {what}"))),
    }
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    lenient(d, as_u64, "a non-negative integer")
}

fn required_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    lenient_u64(d)?.ok_or_else(|| serde::de::Error::custom("null: expected an integer"))
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    lenient(
        d,
        |v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        },
        "an integer",
    )
}

fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    lenient(
        d,
        |v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        },
        "a number",
    )
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    lenient(d, as_bool, "a boolean (0 or 1)")
}

/// An answer that is not what the API documents.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the answer is not the documented {{\"data\": …}} shape: {0}")]
    Envelope(#[source] serde_json::Error),
    /// A key of a config object has the wrong shape.
    #[error("{key} {value}: expected {expected}")]
    Field {
        key: String,
        value: Value,
        expected: &'static str,
    },
    #[error("answer larger than {mib} MiB")]
    TooLarge { mib: usize },
    #[error("node name {0:?} is not a host name")]
    NodeName(String),
}

/// Decodes the `data` member of an API answer.
pub fn decode_data<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    #[derive(Deserialize)]
    struct Envelope<T> {
        data: T,
    }
    serde_json::from_slice::<Envelope<T>>(body)
        .map(|e| e.data)
        .map_err(DecodeError::Envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value) -> VmConfig {
        VmConfig::from_api(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn memory_is_read_in_every_documented_form() {
        assert_eq!(config(json!({"memory": 8192})).memory_mb, 8192);
        assert_eq!(config(json!({"memory": "8192"})).memory_mb, 8192);
        assert_eq!(config(json!({"memory": "current=16384"})).memory_mb, 16384);
        assert_eq!(config(json!({})).memory_mb, 512, "the documented default");
        let err = VmConfig::from_api(json!({"memory": "lots"}).as_object().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("memory"), "{err}");
    }

    #[test]
    fn defaults_follow_the_api_documentation() {
        let c = config(json!({"name": "x"}));
        assert_eq!(
            (c.cores, c.sockets, c.on_boot, c.template),
            (1, 1, false, false)
        );
        assert!(c.tags.is_empty() && c.hostpci.is_empty());
    }

    #[test]
    fn booleans_and_numbers_arrive_as_numbers_or_strings() {
        let c = config(json!({"cores": "4", "onboot": 1, "template": "0"}));
        assert_eq!((c.cores, c.on_boot, c.template), (4, true, false));
        let err = VmConfig::from_api(json!({"onboot": "maybe"}).as_object().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("onboot"), "{err}");
    }

    #[test]
    fn tags_split_on_every_separator_proxmox_accepts() {
        assert_eq!(
            split_tags("web;homelabd;backup"),
            ["backup", "homelabd", "web"]
        );
        assert_eq!(split_tags("a, b  c;a"), ["a", "b", "c"]);
        assert!(split_tags("").is_empty());
    }

    #[test]
    fn passthrough_reads_raw_ids_and_mappings_in_order() {
        let c = config(json!({
            "hostpci1": "mapping=rtx3090,pcie=1",
            "hostpci0": "0000:01:00.0,pcie=1,rombar=1",
            "hostpci2": "host=02:00.0;02:00.1,pcie=1",
        }));
        let (ids, mappings) = c.passthrough();
        assert_eq!(ids, ["0000:01:00.0", "0000:02:00.0", "0000:02:00.1"]);
        assert_eq!(mappings, ["rtx3090"]);
    }

    #[test]
    fn gpus_are_pci_class_0x03() {
        let dev = |class: &str| PciDevice {
            id: "0000:01:00.0".into(),
            class: class.into(),
            vendor: "0x10de".into(),
            device: "0x2204".into(),
            vendor_name: None,
            device_name: None,
            iommugroup: Some(14),
            mdev: None,
        };
        assert!(dev("0x030000").is_gpu());
        assert!(dev("0x030200").is_gpu());
        assert!(!dev("0x040300").is_gpu(), "audio function of a GPU");
        assert!(!dev("0x020000").is_gpu(), "network");
    }

    #[test]
    fn cluster_resources_decode_with_lenient_numbers() {
        let body = br#"{"data":[
            {"id":"qemu/100","type":"qemu","node":"pve-01","vmid":100,"name":"web","status":"running",
             "tags":"a;b","template":0,"cpu":0.01,"maxcpu":2,"mem":1024,"maxmem":"4294967296"},
            {"id":"node/pve-01","type":"node","node":"pve-01","status":"online","maxcpu":16}
        ]}"#;
        let items: Vec<ClusterResource> = decode_data(body).unwrap();
        assert_eq!(items[0].vmid, Some(100));
        assert_eq!(items[0].maxmem, Some(4 << 30));
        assert_eq!(items[0].template, Some(false));
        assert_eq!(items[1].maxcpu, Some(16.0));
        let err = decode_data::<Vec<ClusterResource>>(br#"{"errors":{}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("{\"data\": …}"), "{err}");
    }
}
