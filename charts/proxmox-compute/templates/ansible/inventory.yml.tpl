{#- An adopted VM was not created with homelabd's cloud-init user: its roles run only
    when the definition asks (adopt.configure: true). -#}
{%- if values.adopt is none or values.adopt.configure is defined and values.adopt.configure -%}
# Rendered by homelabd from chart {{ chart.name }} {{ chart.version }}. Do not edit.
# One host per replica; ansible_host is the static address, else the VM name
# (qualified with dns_domain when set), which must resolve (DHCP + DNS).
{#- Values are written through `ansible` (strings tagged `!unsafe`, never templated). #}
{%- set group = "homelab_" ~ (resource.name | replace("-", "_")) %}
all:
  children:
    {{ group | ansible }}:
      hosts:
{%- for node in placement.nodes %}
{%- set idx = loop.index0 %}
{%- set vm_name = resource.name if loop.first else resource.name ~ "-" ~ loop.index %}
{%- set ip = values.ip_addresses[idx] if values.ip_addresses | length > idx else none %}
{%- set host = ip.address if ip is not none else (vm_name if values.dns_domain is none else vm_name ~ "." ~ values.dns_domain) %}
{%- if (host | string)[:1] == "-" %}
{{- fail(chart.name ~ ": ip_addresses[" ~ idx ~ "].address " ~ (host | tojson) ~ " starts with '-', which ssh would read as an option") }}
{%- endif %}
        {{ vm_name | ansible }}:
          ansible_host: {{ host | ansible }}
          homelab_node: {{ node.name | ansible }}
          homelab_replica: {{ loop.index | ansible }}
{%- endfor %}
      vars:
        ansible_user: {{ values.ssh_user | ansible }}
        ansible_python_interpreter: /usr/bin/python3
        homelab_resource_name: {{ resource.name | ansible }}
        homelab_resource_type: {{ resource.resource_type | ansible }}
        homelab_workload_type: {{ resource.workload_type | ansible }}
        homelab_environment: {{ resource.environment | ansible }}
        homelab_replicas: {{ placement.nodes | length | ansible }}
        homelab_high_availability: {{ resource.high_availability | ansible }}
        homelab_gpu: {{ resource.gpu | ansible }}
        homelab_backup_required: {{ resource.backup_required | ansible }}
        homelab_backup_schedule: {{ (resource.backup_schedule if resource.backup_schedule is not none else "0 3 * * *") | ansible }}
        homelab_monitoring: {{ resource.monitoring | ansible }}
{%- endif %}
