output "id" {
  description = "Terraform ID of the VM (node/vmid)."
  value       = proxmox_virtual_environment_vm.this.id
}

output "vm_id" {
  description = "Proxmox VMID of the VM."
  value       = proxmox_virtual_environment_vm.this.vm_id
}

output "name" {
  description = "Name of the VM."
  value       = proxmox_virtual_environment_vm.this.name
}

output "node_name" {
  description = "Node the VM runs on."
  value       = proxmox_virtual_environment_vm.this.node_name
}

output "ipv4_addresses" {
  description = "Non-loopback IPv4 addresses reported by the guest agent (empty without the agent)."
  value = [
    for ip in flatten(proxmox_virtual_environment_vm.this.ipv4_addresses) : ip
    if !startswith(ip, "127.")
  ]
}

output "ipv4_address" {
  description = "The VM's primary IPv4 address: the static one when configured, else the first one the guest agent reports; null if unknown."
  value = var.ipv4_address != "dhcp" ? split("/", var.ipv4_address)[0] : try([
    for ip in flatten(proxmox_virtual_environment_vm.this.ipv4_addresses) : ip
    if !startswith(ip, "127.")
  ][0], null)
}

output "mac_addresses" {
  description = "MAC addresses of the VM's network devices."
  value       = proxmox_virtual_environment_vm.this.mac_addresses
}
