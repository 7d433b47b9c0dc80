locals {
  # Proxmox tags allow [a-z0-9_+.-]; dimensions become "key-value".
  dimension_tags = [
    for k, v in var.tags : lower(replace("${k}-${v}", "/[^a-zA-Z0-9_+.-]/", "_"))
  ]
  # Proxmox always stores tags sorted; sorting here avoids a perpetual diff.
  tags = sort(distinct(concat(
    ["homelabd"],
    var.backup ? ["backup"] : [],
    local.dimension_tags,
    [for t in var.extra_tags : lower(t)],
  )))

  has_gpu = length(var.gpu_pci_ids) > 0 || var.gpu_mapping != null

  # One hostpci entry per raw PCI id, or a single entry for a resource mapping.
  hostpci = var.gpu_mapping != null ? [{ id = null, mapping = var.gpu_mapping }] : [
    for id in var.gpu_pci_ids : { id = id, mapping = null }
  ]
}

resource "proxmox_virtual_environment_vm" "this" {
  name        = var.name
  description = var.description
  tags        = local.tags
  node_name   = var.node_name
  vm_id       = var.vm_id
  pool_id     = var.pool_id

  on_boot         = var.on_boot
  started         = true
  stop_on_destroy = true

  # PCIe passthrough needs the q35 machine type.
  machine = local.has_gpu ? "q35" : null
  bios    = var.bios

  # An adopted VM was imported, not cloned: a clone block would replace it.
  dynamic "clone" {
    for_each = var.adopted ? [] : [1]
    content {
      vm_id     = var.clone_vm_id
      node_name = var.clone_node_name
      full      = var.full_clone
    }
  }

  agent {
    enabled = var.qemu_agent
  }

  cpu {
    cores = var.cores
    type  = var.cpu_type
  }

  memory {
    dedicated = var.memory_mb
  }

  operating_system {
    type = var.os_type
  }

  dynamic "efi_disk" {
    for_each = var.bios == "ovmf" ? [1] : []
    content {
      datastore_id = var.datastore_id
      type         = "4m"
    }
  }

  disk {
    datastore_id = var.datastore_id
    interface    = var.disk_interface
    size         = var.disk_size_gb
    discard      = "on"
    iothread     = startswith(var.disk_interface, "virtio") || startswith(var.disk_interface, "scsi")
    ssd          = !startswith(var.disk_interface, "virtio")
    backup       = var.backup
  }

  # iothread on SCSI disks needs the single-queue controller.
  scsi_hardware = "virtio-scsi-single"

  network_device {
    bridge  = var.bridge
    model   = "virtio"
    vlan_id = var.vlan_id
  }

  dynamic "hostpci" {
    for_each = local.hostpci
    content {
      device  = "hostpci${hostpci.key}"
      id      = hostpci.value.id
      mapping = hostpci.value.mapping
      pcie    = true
      rombar  = true
    }
  }

  # Cloud-init only for VMs homelabd creates: an adopted VM keeps its own setup.
  dynamic "initialization" {
    for_each = var.adopted ? [] : [1]
    content {
      datastore_id = var.datastore_id

      dynamic "dns" {
        for_each = var.dns_domain != null || length(var.dns_servers) > 0 ? [1] : []
        content {
          domain  = var.dns_domain
          servers = length(var.dns_servers) > 0 ? var.dns_servers : null
        }
      }

      ip_config {
        ipv4 {
          address = var.ipv4_address
          gateway = var.ipv4_address == "dhcp" ? null : var.ipv4_gateway
        }
      }

      user_account {
        username = var.ssh_user
        keys     = var.ssh_authorized_keys
        password = var.user_password
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !(length(var.gpu_pci_ids) > 0 && var.gpu_mapping != null)
      error_message = "Set either gpu_pci_ids or gpu_mapping, not both."
    }
  }
}
