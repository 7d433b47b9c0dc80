locals {
  static_ip = var.ipv4_address != "dhcp"

  # cloud-init (VMware guestinfo datasource) network config, netplan v2.
  # Unset (null) keys are dropped so that netplan only sees what applies.
  nic0 = {
    for k, v in {
      match     = { name = "e*" }
      dhcp4     = !local.static_ip
      addresses = local.static_ip ? [var.ipv4_address] : null
      routes    = local.static_ip && var.ipv4_gateway != null ? [{ to = "default", via = var.ipv4_gateway }] : null
      nameservers = length(var.dns_servers) > 0 || var.dns_domain != null ? {
        addresses = var.dns_servers
        search    = var.dns_domain == null ? [] : [var.dns_domain]
      } : null
    } : k => v if v != null
  }

  network_config = {
    version   = 2
    ethernets = { nic0 = local.nic0 }
  }

  metadata = {
    instance-id    = var.name
    local-hostname = var.name
    network        = local.network_config
  }

  userdata = join("\n", [
    "#cloud-config",
    yamlencode({
      hostname         = var.name
      fqdn             = var.dns_domain == null ? var.name : "${var.name}.${var.dns_domain}"
      manage_etc_hosts = true
      users = [{
        name                = var.ssh_user
        groups              = ["sudo"]
        shell               = "/bin/bash"
        sudo                = "ALL=(ALL) NOPASSWD:ALL"
        lock_passwd         = true
        ssh_authorized_keys = var.ssh_authorized_keys
      }]
      package_update = true
      packages       = ["open-vm-tools", "python3"]
    }),
  ])

  annotation = join("\n", concat(
    compact([var.annotation]),
    ["backup: ${var.backup}"],
    [for k, v in var.tags : "${k}=${v}"],
  ))
}

resource "vsphere_virtual_machine" "this" {
  name             = var.name
  annotation       = local.annotation
  tags             = var.tag_ids
  resource_pool_id = var.resource_pool_id
  host_system_id   = var.host_system_id
  datastore_id     = var.datastore_id
  folder           = var.folder

  num_cpus  = var.num_cpus
  memory    = ceil(var.memory_mb / 4) * 4
  guest_id  = var.guest_id
  firmware  = var.firmware
  scsi_type = var.scsi_type

  wait_for_guest_net_timeout = var.wait_for_guest_net_timeout

  network_interface {
    network_id   = var.network_id
    adapter_type = var.network_adapter_type
  }

  disk {
    label            = "disk0"
    size             = max(var.disk_size_gb, var.template_disk_size_gb)
    thin_provisioned = var.thin_provisioned
  }

  clone {
    template_uuid = var.template_uuid
    linked_clone  = var.linked_clone
  }

  extra_config = {
    "guestinfo.metadata"          = base64encode(yamlencode(local.metadata))
    "guestinfo.metadata.encoding" = "base64"
    "guestinfo.userdata"          = base64encode(local.userdata)
    "guestinfo.userdata.encoding" = "base64"
    "guestinfo.homelabd.backup"   = tostring(var.backup)
  }

  lifecycle {
    # Cloning from a template re-reads these from the template; later template
    # updates must not force a rebuild of running VMs.
    ignore_changes = [clone[0].template_uuid]
  }
}
