{#- An adopted VM was not created with homelabd's cloud-init user: its roles run only
    when the definition asks (adopt.configure: true). -#}
{%- if values.adopt is none or values.adopt.configure is defined and values.adopt.configure -%}
# Rendered by homelabd from chart {{ chart.name }} {{ chart.version }}. Do not edit.
[defaults]
inventory = inventory.yml
roles_path = {{ vendor.roles_path }}
host_key_checking = {{ "True" if values.ansible_host_key_checking else "False" }}
retry_files_enabled = False
interpreter_python = auto_silent
forks = 10

[ssh_connection]
pipelining = True
{%- endif %}
