variable "name" {
  description = "VM name; also the cloud-init hostname. Must be a valid DNS label."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "The name must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)."
  }
}

variable "node_name" {
  description = "Proxmox VE node the VM runs on."
  type        = string
}

variable "vm_id" {
  description = "VMID to assign; null lets Proxmox VE pick the next free one."
  type        = number
  default     = null

  validation {
    condition     = var.vm_id == null ? true : var.vm_id >= 100 && var.vm_id <= 999999999
    error_message = "The vm_id must be between 100 and 999999999."
  }
}

variable "description" {
  description = "Free-text description shown in the Proxmox VE UI (Notes)."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Key/value dimensions; each becomes a Proxmox tag \"key-value\" (sanitised, lower-case)."
  type        = map(string)
  default     = {}
}

variable "extra_tags" {
  description = "Additional literal Proxmox tags."
  type        = list(string)
  default     = []
}

variable "cores" {
  description = "Number of virtual CPU cores."
  type        = number

  validation {
    condition     = var.cores >= 1 && var.cores <= 512 && floor(var.cores) == var.cores
    error_message = "The cores must be a whole number between 1 and 512."
  }
}

variable "cpu_type" {
  description = "Emulated CPU type (host, x86-64-v2-AES, ...). 'host' is required for most GPU workloads."
  type        = string
  default     = "host"
}

variable "memory_mb" {
  description = "Dedicated memory in MiB."
  type        = number

  validation {
    condition     = var.memory_mb >= 64 && floor(var.memory_mb) == var.memory_mb
    error_message = "The memory_mb must be a whole number of MiB, at least 64."
  }
}

variable "disk_size_gb" {
  description = "Size of the boot disk in GiB; must not be smaller than the template's disk."
  type        = number

  validation {
    condition     = var.disk_size_gb >= 1 && floor(var.disk_size_gb) == var.disk_size_gb
    error_message = "The disk_size_gb must be a whole number of GiB, at least 1."
  }
}

variable "disk_interface" {
  description = "Interface of the boot disk, with its index (scsi0, virtio0, sata0)."
  type        = string
  default     = "scsi0"

  validation {
    condition     = can(regex("^(scsi|virtio|sata)[0-9]+$", var.disk_interface))
    error_message = "The disk_interface must look like scsi0, virtio0 or sata0."
  }
}

variable "datastore_id" {
  description = "Datastore for the boot disk and the cloud-init drive."
  type        = string
  default     = "local-lvm"
}

variable "bridge" {
  description = "Linux bridge the network device is attached to."
  type        = string
  default     = "vmbr0"
}

variable "vlan_id" {
  description = "VLAN tag of the network device; null for untagged."
  type        = number
  default     = null

  validation {
    condition     = var.vlan_id == null ? true : var.vlan_id >= 1 && var.vlan_id <= 4094
    error_message = "The vlan_id must be between 1 and 4094."
  }
}

variable "adopted" {
  description = "The VM existed before (imported by the root module's import block): no clone, no cloud-init."
  type        = bool
  default     = false
}

variable "clone_vm_id" {
  description = "VMID of the cloud-init enabled template to clone (null for an adopted VM)."
  type        = number
  default     = null
}

variable "clone_node_name" {
  description = "Node holding the template; null when it is the target node (or shared storage)."
  type        = string
  default     = null
}

variable "full_clone" {
  description = "Full clone (independent disks) rather than a linked clone."
  type        = bool
  default     = true
}

variable "os_type" {
  description = "Proxmox OS type hint (l26 for Linux 2.6+ kernels)."
  type        = string
  default     = "l26"
}

variable "bios" {
  description = "Firmware: seabios or ovmf (UEFI; an EFI disk is then added)."
  type        = string
  default     = "seabios"

  validation {
    condition     = contains(["seabios", "ovmf"], var.bios)
    error_message = "The bios must be seabios or ovmf."
  }
}

variable "gpu_pci_ids" {
  description = "Host PCI addresses (0000:01:00.0) to pass through. Raw ids need root@pam password auth on the provider; prefer gpu_mapping with API tokens."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.gpu_pci_ids : can(regex("^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(\\.[0-7])?$", id))])
    error_message = "Each gpu_pci_ids entry must be a PCI address such as 0000:01:00.0."
  }
}

variable "gpu_mapping" {
  description = "Name of a cluster PCI resource mapping to pass through instead of raw gpu_pci_ids (works with API tokens)."
  type        = string
  default     = null
}

variable "on_boot" {
  description = "Start the VM when the node boots."
  type        = bool
  default     = true
}

variable "qemu_agent" {
  description = "Enable the QEMU guest agent (needed to report IP addresses); the template must run qemu-guest-agent."
  type        = bool
  default     = true
}

variable "backup" {
  description = "Include the VM's disk in vzdump backups."
  type        = bool
  default     = false
}

variable "pool_id" {
  description = "Proxmox VE resource pool to put the VM in (for example the pool a backup job selects); null for none."
  type        = string
  default     = null
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

variable "user_password" {
  description = "Password of ssh_user (null: key-based login only). Passed in from a secret."
  type        = string
  sensitive   = true
  default     = null
}

variable "ipv4_address" {
  description = "IPv4 address in CIDR notation (192.168.10.50/24), or \"dhcp\"."
  type        = string
  default     = "dhcp"

  validation {
    condition     = var.ipv4_address == "dhcp" || can(cidrhost(var.ipv4_address, 0))
    error_message = "The ipv4_address must be \"dhcp\" or an address in CIDR notation."
  }
}

variable "ipv4_gateway" {
  description = "IPv4 gateway; must be null with DHCP."
  type        = string
  default     = null
}

variable "dns_domain" {
  description = "DNS search domain set by cloud-init; null to keep the DHCP/template default."
  type        = string
  default     = null
}

variable "dns_servers" {
  description = "DNS servers set by cloud-init; empty to keep the DHCP/template default."
  type        = list(string)
  default     = []
}
