# Rendered by homelabd from chart {{ chart.name }} {{ chart.version }}. Do not edit: change the definition instead.
{#- Context and values: see docs/charts.md and this chart's values.yaml. #}
{%- set props = pool.properties %}
{%- set endpoint = values.endpoint if values.endpoint is not none else (props.endpoint if props.endpoint is defined else none) %}
{%- set insecure = values.insecure_tls if values.insecure_tls is not none else (props.insecure if props.insecure is defined else false) %}
{%- set datastore = values.datastore if values.datastore is not none else (props.datastore if props.datastore is defined else "local-lvm") %}
{%- set os_template = values.os_template if values.os_template is not none else (props.os_template if props.os_template is defined else 9000) %}
{%- set os_template_node = values.os_template_node if values.os_template_node is not none else (props.os_template_node if props.os_template_node is defined else none) %}
{%- set net = values.networks[resource.network] if resource.network in values.networks else none %}
{%- set default_bridge = values.bridge if values.bridge is not none else (props.bridge if props.bridge is defined else "vmbr0") %}
{%- set bridge = net.bridge if net is not none else (default_bridge if resource.network == "default" else resource.network) %}
{%- set vlan_id = net.vlan_id if net is not none and net.vlan_id is defined else none %}
{%- set backup_pool = values.backup.pool_id if values.backup.pool_id is not none else (props.backup_pool if props.backup_pool is defined else none) %}
{%- set disk_gb = resource.storage_gb if resource.storage_gb > 0 else values.default_disk_gb %}
{%- set description = "Managed by homelabd (" ~ chart.name ~ " " ~ chart.version ~ "): " ~ resource.workload_type ~ ", " ~ resource.environment ~ "." %}
{#- An adopted VM (`homelabd adopt`): its VMID and node are user data, so they are checked
    here before they reach the import block. #}
{%- set adopt = values.adopt %}
{%- if adopt is not none %}
{%- if adopt is not mapping or "vmid" not in adopt or "node" not in adopt %}
{{- fail("proxmox-compute: adopt needs vmid and node (the VM to take over) for resource " ~ resource.name) }}
{%- endif %}
{%- if adopt.vmid is not integer or adopt.vmid < 100 or adopt.vmid > 999999999 %}
{{- fail("proxmox-compute: adopt.vmid must be a VMID, an integer from 100 to 999999999, for resource " ~ resource.name) }}
{%- endif %}
{%- if adopt.node is not string or adopt.node | length == 0 or adopt.node | length > 63 or adopt.node[0] in "-." or adopt.node | reject("in", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") | list | length > 0 %}
{{- fail("proxmox-compute: adopt.node must be a Proxmox node name (letters, digits, '-', '.', '_') for resource " ~ resource.name) }}
{%- endif %}
{%- if placement.nodes | length != 1 or placement.nodes[0].name != adopt.node %}
{{- fail("proxmox-compute: the adopted VM " ~ adopt.vmid ~ " runs on node " ~ adopt.node ~ "; resource " ~ resource.name ~ " must be one replica pinned there (spec.placement.node: " ~ adopt.node ~ ")") }}
{%- endif %}
{%- endif %}
# Resource: {{ resource.name }} ({{ resource.resource_type }}, workload {{ resource.workload_type }}), {{ placement.nodes | length }} replica(s).

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "~> 0.66"
    }
  }
}

# Credentials are never rendered: the provider reads the API token from the
# PROXMOX_VE_API_TOKEN environment variable (user@realm!token=secret) at apply time.
{%- if endpoint is none %}
# The endpoint comes from the PROXMOX_VE_ENDPOINT environment variable.
{%- endif %}
{%- if values.user_password is not none %}

# The cloud-init user's password, from a secret: homelabd passes it at apply time as
# TF_VAR_user_password; it is never written here. Terraform keeps resource arguments in
# its state file (homelabd's work directory, readable by the daemon's user only).
variable "user_password" {
  type      = string
  sensitive = true
  default   = null
}
{% endif %}
provider "proxmox" {
{%- if endpoint is not none %}
  endpoint = {{ endpoint | hcl }}
{%- endif %}
  insecure = {{ insecure | hcl }}
}
{%- for node in placement.nodes %}
{%- set idx = loop.index0 %}
{%- set vm_name = resource.name if loop.first else resource.name ~ "-" ~ loop.index %}
{%- set ip = values.ip_addresses[idx] if values.ip_addresses | length > idx else none %}
{%- set node_gpus = placement.gpus | selectattr("node", "equalto", node.name) | list %}
{%- set nth_on_node = placement.nodes[:idx] | selectattr("name", "equalto", node.name) | list | length %}
{%- set gpu_ids = [node_gpus[nth_on_node].pci_address] if resource.gpu and values.gpu_mapping is none else [] %}

module "vm_{{ loop.index }}" {
  source = {{ vendor.modules["proxmox-vm"] | hcl }}

  name        = {{ vm_name | hcl }}
  description = {{ description | hcl }}
  node_name   = {{ node.name | hcl }}
  vm_id       = {{ (adopt.vmid if adopt is not none else (values.vmid_base + idx if values.vmid_base is not none else none)) | hcl }}
  tags        = {{ resource.dimensions | hcl }}
  extra_tags  = {{ values.tags | hcl }}

  cores          = {{ resource.cpu | hcl }}
  cpu_type       = {{ values.cpu_type | hcl }}
  memory_mb      = {{ resource.memory_mb | hcl }}
  disk_size_gb   = {{ disk_gb | hcl }}
  disk_interface = {{ values.disk_interface | hcl }}
  datastore_id   = {{ datastore | hcl }}
  bios           = {{ values.bios | hcl }}
  os_type        = {{ values.os_type | hcl }}

  adopted         = {{ (adopt is not none) | hcl }}
  clone_vm_id     = {{ (os_template if adopt is none else none) | hcl }}
  clone_node_name = {{ os_template_node | hcl }}
  full_clone      = {{ values.full_clone | hcl }}

  bridge       = {{ bridge | hcl }}
  vlan_id      = {{ vlan_id | hcl }}
  ipv4_address = {{ ("dhcp" if ip is none else ip.address ~ "/" ~ ip.prefix_length) | hcl }}
  ipv4_gateway = {{ (ip.gateway if ip is not none and ip.gateway is defined else none) | hcl }}
  dns_domain   = {{ values.dns_domain | hcl }}
  dns_servers  = {{ values.dns_servers | hcl }}

  ssh_user            = {{ values.ssh_user | hcl }}
  ssh_authorized_keys = {{ values.ssh_authorized_keys | hcl }}
{%- if values.user_password is not none %}
  user_password       = var.user_password
{%- endif %}

  gpu_pci_ids = {{ gpu_ids | hcl }}
  gpu_mapping = {{ (values.gpu_mapping if resource.gpu else none) | hcl }}

  on_boot    = {{ values.start_on_boot | hcl }}
  qemu_agent = {{ values.qemu_agent | hcl }}
  backup     = {{ resource.backup_required | hcl }}
  pool_id    = {{ (backup_pool if resource.backup_required else none) | hcl }}
}
{%- endfor %}
{%- if adopt is not none %}

# Adopted by homelabd: the VM already exists, so the first apply imports it into the
# state (Terraform >= 1.5) instead of creating another; afterwards this block is a no-op.
import {
  to = module.vm_1.proxmox_virtual_environment_vm.this
  id = {{ (adopt.node ~ "/" ~ adopt.vmid) | hcl }}
}
{%- endif %}

locals {
  vms = [
{%- for node in placement.nodes %}
    module.vm_{{ loop.index }},
{%- endfor %}
  ]
}

output "vms" {
  description = "Each replica: name, node, VMID and primary IPv4 address."
  value = [
    for vm in local.vms : {
      name         = vm.name
      node_name    = vm.node_name
      vm_id        = vm.vm_id
      ipv4_address = vm.ipv4_address
    }
  ]
}

output "ipv4_addresses" {
  description = "Primary IPv4 address of each replica, by VM name (null until the guest agent reports one)."
  value       = { for vm in local.vms : vm.name => vm.ipv4_address }
}
