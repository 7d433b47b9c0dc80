# Rendered by homelabd from chart {{ chart.name }} {{ chart.version }}. Do not edit: change the definition instead.
{#- Context and values: see docs/charts.md and this chart's values.yaml. A line that names an
    undefined `missing_...` variable fails the render on purpose: the setting is required. #}
{%- set props = pool.properties %}
{%- set server = values.vsphere_server if values.vsphere_server is not none else (props.vsphere_server if props.vsphere_server is defined else none) %}
{%- set unverified = values.allow_unverified_ssl if values.allow_unverified_ssl is not none else (props.allow_unverified_ssl if props.allow_unverified_ssl is defined else false) %}
{%- set datacenter = values.datacenter if values.datacenter is not none else (props.datacenter if props.datacenter is defined else missing_datacenter_set_pool_property_or_value) %}
{%- set cluster = values.cluster if values.cluster is not none else (props.cluster if props.cluster is defined else missing_cluster_set_pool_property_or_value) %}
{%- set resource_pool = values.resource_pool if values.resource_pool is not none else (props.resource_pool if props.resource_pool is defined else none) %}
{%- set datastore = values.datastore if values.datastore is not none else (props.datastore if props.datastore is defined else missing_datastore_set_pool_property_or_value) %}
{%- set folder = values.folder if values.folder is not none else (props.folder if props.folder is defined else none) %}
{%- set os_template = values.os_template if values.os_template is not none else (props.template if props.template is defined else missing_template_set_pool_property_or_value) %}
{%- set default_network = values.network if values.network is not none else (props.network if props.network is defined else missing_network_set_pool_property_or_value) %}
{%- set network = values.networks[resource.network] if resource.network in values.networks else (default_network if resource.network == "default" else resource.network) %}
{%- set disk_gb = resource.storage_gb if resource.storage_gb > 0 else values.default_disk_gb %}
{%- set annotation = "Managed by homelabd (" ~ chart.name ~ " " ~ chart.version ~ "): " ~ resource.workload_type ~ ", " ~ resource.environment ~ "." %}
{%- set replicas = placement.nodes | length %}
# Resource: {{ resource.name }} ({{ resource.resource_type }}, workload {{ resource.workload_type }}), {{ replicas }} replica(s).

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
{%- if server is none %}
# The vCenter server comes from the VSPHERE_SERVER environment variable.
{%- endif %}
provider "vsphere" {
{%- if server is not none %}
  vsphere_server       = {{ server | hcl }}
{%- endif %}
  allow_unverified_ssl = {{ unverified | hcl }}
}

data "vsphere_datacenter" "this" {
  name = {{ datacenter | hcl }}
}

data "vsphere_compute_cluster" "this" {
  name          = {{ cluster | hcl }}
  datacenter_id = data.vsphere_datacenter.this.id
}
{%- if resource_pool is not none %}

data "vsphere_resource_pool" "this" {
  name          = {{ resource_pool | hcl }}
  datacenter_id = data.vsphere_datacenter.this.id
}
{%- endif %}

data "vsphere_datastore" "this" {
  name          = {{ datastore | hcl }}
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_network" "this" {
  name          = {{ network | hcl }}
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_virtual_machine" "template" {
  name          = {{ os_template | hcl }}
  datacenter_id = data.vsphere_datacenter.this.id
}
{%- for node in placement.nodes %}
{%- if values.pin_to_host %}

data "vsphere_host" "node_{{ loop.index }}" {
  name          = {{ node.name | hcl }}
  datacenter_id = data.vsphere_datacenter.this.id
}
{%- endif %}
{%- endfor %}
{%- for node in placement.nodes %}
{%- set idx = loop.index0 %}
{%- set vm_name = resource.name if loop.first else resource.name ~ "-" ~ loop.index %}
{%- set ip = values.ip_addresses[idx] if values.ip_addresses | length > idx else none %}

module "vm_{{ loop.index }}" {
  source = {{ vendor.modules["vsphere-vm"] | hcl }}

  name       = {{ vm_name | hcl }}
  annotation = {{ annotation | hcl }}
  tags       = {{ resource.dimensions | hcl }}
  tag_ids    = {{ values.tag_ids | hcl }}

  resource_pool_id = {{ "data.vsphere_compute_cluster.this.resource_pool_id" if resource_pool is none else "data.vsphere_resource_pool.this.id" }}
  host_system_id   = {{ "data.vsphere_host.node_" ~ loop.index ~ ".id" if values.pin_to_host else "null" }}
  datastore_id     = data.vsphere_datastore.this.id
  folder           = {{ folder | hcl }}
  network_id       = data.vsphere_network.this.id

  template_uuid         = data.vsphere_virtual_machine.template.id
  guest_id              = data.vsphere_virtual_machine.template.guest_id
  firmware              = data.vsphere_virtual_machine.template.firmware
  scsi_type             = data.vsphere_virtual_machine.template.scsi_type
  network_adapter_type  = data.vsphere_virtual_machine.template.network_interface_types[0]
  template_disk_size_gb = data.vsphere_virtual_machine.template.disks[0].size
  thin_provisioned      = data.vsphere_virtual_machine.template.disks[0].thin_provisioned
  linked_clone          = {{ values.linked_clone | hcl }}

  num_cpus     = {{ resource.cpu | hcl }}
  memory_mb    = {{ resource.memory_mb | hcl }}
  disk_size_gb = {{ disk_gb | hcl }}

  ipv4_address = {{ ("dhcp" if ip is none else ip.address ~ "/" ~ ip.prefix_length) | hcl }}
  ipv4_gateway = {{ (ip.gateway if ip is not none and ip.gateway is defined else none) | hcl }}
  dns_domain   = {{ values.dns_domain | hcl }}
  dns_servers  = {{ values.dns_servers | hcl }}

  ssh_user            = {{ values.ssh_user | hcl }}
  ssh_authorized_keys = {{ values.ssh_authorized_keys | hcl }}

  backup = {{ resource.backup_required | hcl }}
}
{%- endfor %}

locals {
  vms = [
{%- for node in placement.nodes %}
    module.vm_{{ loop.index }},
{%- endfor %}
  ]
}
{%- if replicas > 1 %}

# Keep the replicas on different ESXi hosts when DRS moves VMs.
resource "vsphere_compute_cluster_vm_anti_affinity_rule" "replicas" {
  name                = {{ ("homelabd-" ~ resource.name) | hcl }}
  compute_cluster_id  = data.vsphere_compute_cluster.this.id
  virtual_machine_ids = [for vm in local.vms : vm.id]
  mandatory           = {{ resource.high_availability | hcl }}
}
{%- endif %}

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
