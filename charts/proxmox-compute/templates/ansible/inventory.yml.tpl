# Rendered by homelabd from chart {{ chart.name }} {{ chart.version }}. Do not edit.
# One host per replica; ansible_host is the static address, else the VM name
# (qualified with dns_domain when set), which must resolve (DHCP + DNS).
{%- set group = "homelab_" ~ (resource.name | replace("-", "_")) %}
all:
  children:
    {{ group | tojson }}:
      hosts:
{%- for node in placement.nodes %}
{%- set idx = loop.index0 %}
{%- set vm_name = resource.name if loop.first else resource.name ~ "-" ~ loop.index %}
{%- set ip = values.ip_addresses[idx] if values.ip_addresses | length > idx else none %}
        {{ vm_name | tojson }}:
          ansible_host: {{ (ip.address if ip is not none else (vm_name if values.dns_domain is none else vm_name ~ "." ~ values.dns_domain)) | tojson }}
          homelab_node: {{ node.name | tojson }}
          homelab_replica: {{ loop.index | tojson }}
{%- endfor %}
      vars:
        ansible_user: {{ values.ssh_user | tojson }}
        ansible_python_interpreter: /usr/bin/python3
        homelab_resource_name: {{ resource.name | tojson }}
        homelab_resource_type: {{ resource.resource_type | tojson }}
        homelab_workload_type: {{ resource.workload_type | tojson }}
        homelab_environment: {{ resource.environment | tojson }}
        homelab_replicas: {{ placement.nodes | length | tojson }}
        homelab_high_availability: {{ resource.high_availability | tojson }}
        homelab_gpu: {{ resource.gpu | tojson }}
        homelab_backup_required: {{ resource.backup_required | tojson }}
        homelab_backup_schedule: {{ (resource.backup_schedule if resource.backup_schedule is not none else "0 3 * * *") | tojson }}
        homelab_monitoring: {{ resource.monitoring | tojson }}
