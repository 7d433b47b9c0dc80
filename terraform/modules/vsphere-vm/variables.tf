variable "name" {
  description = "VM name; also the guest hostname set by cloud-init. Must be a valid DNS label."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "The name must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)."
  }
}

variable "annotation" {
  description = "Free-text notes shown in vCenter."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Key/value dimensions, written into the VM's notes as key=value lines."
  type        = map(string)
  default     = {}
}

variable "tag_ids" {
  description = "IDs of existing vSphere tags to attach."
  type        = list(string)
  default     = []
}

variable "resource_pool_id" {
  description = "Resource pool the VM belongs to (a cluster's root pool or a child pool)."
  type        = string
}

variable "host_system_id" {
  description = "ESXi host to place the VM on; null lets DRS decide."
  type        = string
  default     = null
}

variable "datastore_id" {
  description = "Datastore for the VM's files and disk."
  type        = string
}

variable "folder" {
  description = "VM folder path relative to the datacenter's vm folder; null for the root."
  type        = string
  default     = null
}

variable "network_id" {
  description = "Port group (network) ID the VM's NIC is attached to."
  type        = string
}

variable "template_uuid" {
  description = "UUID of the cloud-init enabled template to clone."
  type        = string
}

variable "guest_id" {
  description = "Guest OS identifier, normally the template's (debian12_64Guest, ...)."
  type        = string
}

variable "firmware" {
  description = "Firmware of the template: bios or efi."
  type        = string
  default     = "efi"

  validation {
    condition     = contains(["bios", "efi"], var.firmware)
    error_message = "The firmware must be bios or efi."
  }
}

variable "scsi_type" {
  description = "SCSI controller type of the template (pvscsi, lsilogic, ...)."
  type        = string
  default     = "pvscsi"
}

variable "network_adapter_type" {
  description = "NIC type of the template (vmxnet3, e1000e)."
  type        = string
  default     = "vmxnet3"
}

variable "linked_clone" {
  description = "Create a linked clone (the template must have a single snapshot)."
  type        = bool
  default     = false
}

variable "num_cpus" {
  description = "Number of virtual CPUs."
  type        = number

  validation {
    condition     = var.num_cpus >= 1 && floor(var.num_cpus) == var.num_cpus
    error_message = "The num_cpus must be a whole number, at least 1."
  }
}

variable "memory_mb" {
  description = "Memory in MiB; rounded up to a multiple of 4 as vSphere requires."
  type        = number

  validation {
    condition     = var.memory_mb >= 64
    error_message = "The memory_mb must be at least 64."
  }
}

variable "disk_size_gb" {
  description = "Boot disk size in GiB; never smaller than the template's disk."
  type        = number

  validation {
    condition     = var.disk_size_gb >= 1 && floor(var.disk_size_gb) == var.disk_size_gb
    error_message = "The disk_size_gb must be a whole number of GiB, at least 1."
  }
}

variable "template_disk_size_gb" {
  description = "Size of the template's boot disk in GiB."
  type        = number
  default     = 0
}

variable "thin_provisioned" {
  description = "Thin-provision the boot disk."
  type        = bool
  default     = true
}

variable "ssh_user" {
  description = "User created by cloud-init."
  type        = string
  default     = "homelab"
}

variable "ssh_authorized_keys" {
  description = "Public SSH keys authorised for ssh_user."
  type        = list(string)
  default     = []
}

variable "ipv4_address" {
  description = "IPv4 address in CIDR notation (192.168.20.50/24), or \"dhcp\"."
  type        = string
  default     = "dhcp"

  validation {
    condition     = var.ipv4_address == "dhcp" || can(cidrhost(var.ipv4_address, 0))
    error_message = "The ipv4_address must be \"dhcp\" or an address in CIDR notation."
  }
}

variable "ipv4_gateway" {
  description = "IPv4 gateway for a static address."
  type        = string
  default     = null
}

variable "dns_domain" {
  description = "DNS search domain; null for none."
  type        = string
  default     = null
}

variable "dns_servers" {
  description = "DNS servers for a static address."
  type        = list(string)
  default     = []
}

variable "backup" {
  description = "Whether the VM is backed up; recorded in the notes and as extra config for backup tools that select on it."
  type        = bool
  default     = false
}

variable "wait_for_guest_net_timeout" {
  description = "Minutes to wait for the guest to report an IP address (0 disables waiting)."
  type        = number
  default     = 5
}
