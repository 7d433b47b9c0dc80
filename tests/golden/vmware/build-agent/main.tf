# Rendered by homelabd from chart vmware-vsphere 1.0.0. Do not edit: change the definition instead.
# Resource: build-agent (compute, workload ci-cd), 1 replica(s).

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    vsphere = {
      source  = "hashicorp/vsphere"
      version = "~> 2.8"
    }
  }
}

# Credentials are never rendered: the provider reads VSPHERE_USER and
# VSPHERE_PASSWORD from the environment at apply time.
provider "vsphere" {
  vsphere_server       = "vcenter.home.arpa"
  allow_unverified_ssl = false
}

data "vsphere_datacenter" "this" {
  name = "Homelab"
}

data "vsphere_compute_cluster" "this" {
  name          = "Lab"
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_datastore" "this" {
  name          = "vsanDatastore"
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_network" "this" {
  name          = "VM Network"
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_virtual_machine" "template" {
  name          = "debian-12-template"
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_host" "node_1" {
  name          = "esxi-01"
  datacenter_id = data.vsphere_datacenter.this.id
}

module "vm_1" {
  source = "../../.shared/vsphere-vm@d5150a25dd28e088/vsphere-vm"

  name       = "build-agent"
  annotation = "Managed by homelabd (vmware-vsphere 1.0.0): ci-cd, production."
  tags       = { "cost_center" = "engineering", "owner" = "platform-team", "site" = "home" }
  tag_ids    = []

  resource_pool_id = data.vsphere_compute_cluster.this.resource_pool_id
  host_system_id   = data.vsphere_host.node_1.id
  datastore_id     = data.vsphere_datastore.this.id
  folder           = null
  network_id       = data.vsphere_network.this.id

  template_uuid         = data.vsphere_virtual_machine.template.id
  guest_id              = data.vsphere_virtual_machine.template.guest_id
  firmware              = data.vsphere_virtual_machine.template.firmware
  scsi_type             = data.vsphere_virtual_machine.template.scsi_type
  network_adapter_type  = data.vsphere_virtual_machine.template.network_interface_types[0]
  template_disk_size_gb = data.vsphere_virtual_machine.template.disks[0].size
  thin_provisioned      = data.vsphere_virtual_machine.template.disks[0].thin_provisioned
  linked_clone          = false

  num_cpus     = 4
  memory_mb    = 8192
  disk_size_gb = 80

  ipv4_address = "dhcp"
  ipv4_gateway = null
  dns_domain   = null
  dns_servers  = []

  ssh_user            = "homelab"
  ssh_authorized_keys = []

  backup = false
}

locals {
  vms = [
    module.vm_1,
  ]
}

output "vms" {
  description = "Each replica: name, ID and primary IPv4 address."
  value = [
    for vm in local.vms : {
      name         = vm.name
      id           = vm.id
      ipv4_address = vm.ipv4_address
    }
  ]
}

output "ipv4_addresses" {
  description = "Primary IPv4 address of each replica, by VM name (empty until VMware Tools reports one)."
  value       = { for vm in local.vms : vm.name => vm.ipv4_address }
}
