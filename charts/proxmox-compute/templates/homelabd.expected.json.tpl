{#-
  The machine-readable expected state of this resource's VMs, read by homelabd's Proxmox
  observer to detect drift (docs/charts.md, "Expected state"). It restates what main.tf.tpl
  and modules/proxmox-vm ask Proxmox for, so a change to either belongs here too.
-#}
{%- set disk_gb = resource.storage_gb if resource.storage_gb > 0 else values.default_disk_gb -%}
{#- Proxmox tags allow [a-zA-Z0-9_+.-]: the module turns each dimension into "key-value",
    replaces every other character with "_" and lower-cases it. -#}
{%- macro sanitize(text) -%}
{%- for c in text -%}{{ c if c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-" else "_" }}{%- endfor -%}
{%- endmacro -%}
{%- set ns = namespace(tags=["homelabd"] + (["backup"] if resource.backup_required else [])) -%}
{%- for key, value in resource.dimensions | items -%}
{%- set ns.tags = ns.tags + [sanitize(key ~ "-" ~ value) | lower] -%}
{%- endfor -%}
{%- for extra in values.tags -%}
{%- set ns.tags = ns.tags + [extra | lower] -%}
{%- endfor -%}
{%- set tags = ns.tags | unique | sort -%}
{%- set vms = namespace(list=[]) -%}
{%- for node in placement.nodes -%}
{%- set idx = loop.index0 -%}
{%- set node_gpus = placement.gpus | selectattr("node", "equalto", node.name) | list -%}
{%- set nth_on_node = placement.nodes[:idx] | selectattr("name", "equalto", node.name) | list | length -%}
{%- set vm = dict(
      name=(resource.name if loop.first else resource.name ~ "-" ~ loop.index),
      node_name=node.name,
      cores=resource.cpu,
      memory_mb=resource.memory_mb,
      disk_size_gb=disk_gb,
      tags=tags,
      on_boot=values.start_on_boot,
      started=true,
      gpu_pci_ids=([node_gpus[nth_on_node].pci_address] if resource.gpu and values.gpu_mapping is none else []),
      gpu_mapping=(values.gpu_mapping if resource.gpu else none)) -%}
{%- if values.adopt is not none -%}
{#- Adopted (main.tf checks adopt and imports the VM): until the first apply the VM lacks
    the tags homelabd adds itself, which that apply adds in place. -#}
{%- set own = namespace(tags=[]) -%}
{%- for extra in values.tags -%}
{%- set own.tags = own.tags + [extra | lower] -%}
{%- endfor -%}
{%- set vm = dict(vm, vm_id=values.adopt.vmid, adopted=true, added_tags=(tags | reject("in", own.tags) | list)) -%}
{%- elif values.vmid_base is not none -%}
{%- set vm = dict(vm, vm_id=values.vmid_base + idx) -%}
{%- endif -%}
{%- set vms.list = vms.list + [vm] -%}
{%- endfor -%}
{{ dict(format=1, resource=resource.name, provider="proxmox", vms=vms.list) | tojson(indent=2) }}
