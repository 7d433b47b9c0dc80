# Rendered by homelabd from chart proxmox-compute 1.0.0. Do not edit: change the definition instead.
# Resource: postgresql (compute, workload database), 1 replica(s).

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
provider "proxmox" {
  endpoint = "https://pve.home.arpa:8006/"
  insecure = false
}

module "vm_1" {
  source = "../../.shared/proxmox-vm@5ca54a6b87cbb048/proxmox-vm"

  name        = "postgresql"
  description = "Managed by homelabd (proxmox-compute 1.0.0): database, production."
  node_name   = "pve-03"
  vm_id       = null
  tags        = { "cost_center" = "shared", "owner" = "homelab-admin", "service_class" = "data", "site" = "home" }
  extra_tags  = []

  cores          = 4
  cpu_type       = "host"
  memory_mb      = 8192
  disk_size_gb   = 200
  disk_interface = "scsi0"
  datastore_id   = "local-lvm"
  bios           = "seabios"
  os_type        = "l26"

  adopted         = false
  clone_vm_id     = 9000
  clone_node_name = null
  full_clone      = true

  bridge       = "vmbr0"
  vlan_id      = null
  ipv4_address = "dhcp"
  ipv4_gateway = null
  dns_domain   = null
  dns_servers  = []

  ssh_user            = "homelab"
  ssh_authorized_keys = []

  gpu_pci_ids = []
  gpu_mapping = null

  on_boot    = true
  qemu_agent = true
  backup     = true
  pool_id    = null
}

locals {
  vms = [
    module.vm_1,
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
