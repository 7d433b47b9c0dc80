//! `adopt-unmanaged-resource` for a Proxmox VM (and `homelabd adopt NAME`): a QEMU VM
//! created outside homelabd, found by name or VMID on the cluster of `[proxmox]` (through
//! `observe::proxmox`), becomes a `proxmox-compute` definition that states it as it runs
//! (`propose::adopt_vm`), pinned to its node, proposed as a branch and pull request.
//! After the merge the rendered Terraform imports the VM (an `import` block) instead of
//! creating one, and the observer compares the VM with the definition from the render on.

use super::adopt_tool::{AdoptRequest, NewDefinition, new_resource_name, workload_type_for};
use super::context::View;
use super::proposal_tools::ProposalAnswer;
use super::proposals;
use super::reply::Refusal;
use super::server::HomelabMcp;
use crate::model::Provider;
use crate::observe::proxmox::ProxmoxClient;
use crate::propose::adopt_vm::{self, LiveVm, VmOptions};
use serde_json::{Map, Value};

/// A VM found on the cluster.
pub(super) struct FoundVm {
    vmid: u64,
    node: String,
    status: String,
    tags: Vec<String>,
    config: Map<String, Value>,
}

impl HomelabMcp {
    fn proxmox_client(&self) -> Result<ProxmoxClient, Refusal> {
        let settings = &self.ctx.settings;
        let (Some(proxmox), Some(token)) = (&settings.proxmox, &settings.proxmox_token) else {
            return Err(Refusal::Unavailable(
                "[proxmox] is configured without an API token secret (the proxmox-token credential or HOMELABD_PROXMOX_TOKEN)".into(),
            ));
        };
        ProxmoxClient::new(proxmox, token).map_err(|e| Refusal::Unavailable(e.to_string()))
    }

    /// Where a VM was looked for, for a refusal.
    pub(super) fn proxmox_searched(&self) -> String {
        self.ctx
            .settings
            .proxmox
            .as_ref()
            .map(|p| format!("the Proxmox VE cluster at {}", p.url))
            .unwrap_or_else(|| "no Proxmox VE cluster ([proxmox] is not set)".into())
    }

    /// The QEMU VM `r.container` names (its name, or its VMID), with its configuration.
    pub(super) async fn find_vm(&self, r: &AdoptRequest) -> Result<Option<FoundVm>, Refusal> {
        let client = self.proxmox_client()?;
        let unavailable = |e: crate::observe::proxmox::ProxmoxError| {
            Refusal::Unavailable(format!("cannot read the Proxmox VE cluster: {e}"))
        };
        let vms = client.cluster_resources("vm").await.map_err(unavailable)?;
        let wanted = r.container.trim();
        let matches: Vec<_> = vms
            .iter()
            .filter(|v| v.kind == "qemu")
            .filter(|v| {
                v.name.as_deref() == Some(wanted)
                    || v.vmid.is_some_and(|id| id.to_string() == wanted)
            })
            .collect();
        let vm = match matches.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            several => {
                return Err(Refusal::fixable(
                    format!(
                        "several VMs are named {wanted:?} (VMIDs {}); nothing was written",
                        several
                            .iter()
                            .filter_map(|v| v.vmid.map(|id| id.to_string()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    vec!["give the VMID instead of the name".into()],
                ));
            }
        };
        let (Some(vmid), Some(node)) = (vm.vmid, vm.node.clone()) else {
            return Ok(None);
        };
        let config = client
            .qemu_config_raw(&node, vmid)
            .await
            .map_err(unavailable)?;
        Ok(Some(FoundVm {
            vmid,
            node,
            status: vm.status.clone().unwrap_or_else(|| "unknown".into()),
            tags: crate::observe::proxmox::api::split_tags(vm.tags.as_deref().unwrap_or("")),
            config,
        }))
    }

    /// Proposes the definition of a found VM.
    pub(super) async fn adopt_vm(
        &self,
        view: &View,
        r: &AdoptRequest,
        vm: FoundVm,
        client: String,
    ) -> Result<ProposalAnswer, Refusal> {
        let catalog = &view.outcome.catalog;
        let vmid = vm.vmid;
        if vm.tags.iter().any(|t| t == "homelabd") {
            return Err(Refusal::fixable(
                format!(
                    "VM {vmid} carries the homelabd tag: homelabd already manages it; nothing was written"
                ),
                vec![],
            ));
        }
        for (name, e) in &catalog.resources {
            let adopts = e.doc.value().pointer("/spec/chart/values/adopt/vmid");
            if adopts.and_then(Value::as_u64) == Some(vmid) {
                return Err(Refusal::fixable(
                    format!(
                        "VM {vmid} is already adopted by resource {name} ({}); nothing was written",
                        e.doc.file
                    ),
                    vec![],
                ));
            }
        }
        // The proxmox pool whose nodes include the VM's node (only `r.pool` when given).
        let pools: Vec<&String> = view
            .pools
            .iter()
            .filter(|(_, p)| p.provider == Some(Provider::Proxmox))
            .filter(|(_, p)| p.nodes.iter().any(|n| n.name == vm.node))
            .map(|(path, _)| path)
            .collect();
        let pool = match r.pool.as_deref() {
            Some(want) => pools
                .iter()
                .find(|p| p.as_str() == want)
                .copied()
                .ok_or_else(|| {
                    Refusal::fixable(
                        format!(
                            "VM {vmid} runs on node {}, which pool {want} does not have; nothing was written",
                            vm.node
                        ),
                        vec![format!(
                            "proxmox pools with node {}: {}",
                            vm.node,
                            pools.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                        )],
                    )
                })?,
            None => pools.first().copied().ok_or_else(|| {
                Refusal::fixable(
                    format!(
                        "VM {vmid} runs on node {}, which no proxmox pool of the repository has; nothing was written",
                        vm.node
                    ),
                    vec![format!("add node {} to a ResourcePool with provider: proxmox", vm.node)],
                )
            })?,
        };
        let vm_name = vm
            .config
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let default_name = if vm_name.is_empty() {
            format!("vm-{vmid}")
        } else {
            vm_name.clone()
        };
        let name = new_resource_name(catalog, r, &default_name, "VM")?;
        let workload_type = workload_type_for(catalog, r)?;
        let adoption = adopt_vm::definition(
            &LiveVm {
                vmid,
                node: &vm.node,
                status: &vm.status,
                config: &vm.config,
            },
            &VmOptions {
                name: &name,
                pool,
                workload_type: &workload_type,
            },
        )
        .map_err(|e| Refusal::fixable(format!("{e}; nothing was written"), vec![]))?;
        let tool = "adopt-unmanaged-resource";
        let header = vec![
            format!(
                "Adopted by homelabd {tool} for {client} from Proxmox VM {vmid} ({vm_name}) on {}.",
                vm.node
            ),
            "The first apply imports the VM into Terraform's state (an import block for".into(),
            format!(
                "{}/{vmid}) instead of creating one; it is never cloned again.",
                vm.node
            ),
        ];
        let content = proposals::yaml_document(&header, &adoption.document);
        let mut notes = vec![format!(
            "adopts Proxmox VM {vmid} ({vm_name}) on node {} in pool {pool}",
            vm.node
        )];
        notes.extend(adoption.notes.iter().cloned());
        let mut body = r.reason.clone().map(|x| x + "\n\n").unwrap_or_default();
        body.push_str(&format!(
            "Adopts the Proxmox VM `{vmid}` (`{vm_name}`) on `{}` as resource `{name}`: the definition states it as it runs, pinned to its node, and the rendered Terraform imports it (`import` block, Terraform >= 1.5) rather than creating another.\n\n",
            vm.node
        ));
        for n in &notes {
            body.push_str(&format!("- {n}\n"));
        }
        let new = NewDefinition {
            title: format!("Adopt Proxmox VM {vmid} as {name}"),
            name,
            content,
            body,
            notes,
        };
        self.propose_definition(view, client, new, r.dry_run).await
    }
}
