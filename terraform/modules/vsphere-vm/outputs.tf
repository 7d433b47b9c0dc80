output "id" {
  description = "Managed object ID (UUID) of the VM."
  value       = vsphere_virtual_machine.this.id
}

output "moid" {
  description = "Managed object reference ID of the VM (vm-123)."
  value       = vsphere_virtual_machine.this.moid
}

output "name" {
  description = "Name of the VM."
  value       = vsphere_virtual_machine.this.name
}

output "ipv4_address" {
  description = "The VM's primary IPv4 address: the static one when configured, else the one VMware Tools reports (may be empty before the guest is up)."
  value       = local.static_ip ? split("/", var.ipv4_address)[0] : vsphere_virtual_machine.this.default_ip_address
}

output "ip_addresses" {
  description = "All IP addresses VMware Tools reports for the guest."
  value       = vsphere_virtual_machine.this.guest_ip_addresses
}
