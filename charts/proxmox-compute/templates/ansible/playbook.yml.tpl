{#- An adopted VM was not created with homelabd's cloud-init user: its roles run only
    when the definition asks (adopt.configure: true). -#}
{%- if values.adopt is none or values.adopt.configure is defined and values.adopt.configure -%}
# Rendered by homelabd from chart {{ chart.name }} {{ chart.version }}. Do not edit.
# Run from this directory: ansible-playbook -i inventory.yml playbook.yml
{#- Every value is written through `ansible`, which tags strings `!unsafe`: Ansible never
    templates them, so `{{ ... }}` in a definition stays text. Variable names go through
    `ansible_var_name`, which refuses Ansible's own `ansible_*` settings (docs/charts.md). #}
- name: {{ ("Configure " ~ resource.name) | ansible }}
  hosts: {{ ("homelab_" ~ (resource.name | replace("-", "_"))) | ansible }}
  become: true
  gather_facts: false
{%- if ansible.vars %}
  vars:
{%- for key, value in ansible.vars | items %}
{%- if value is mapping and "secret" in value %}
    {#- A secret: Ansible reads it from the environment homelabd gives ansible-playbook at
        apply time (homelabd.secrets.json names the variable); never written here. #}
    {{ key | ansible_var_name }}: "{{ "{{" }} lookup('ansible.builtin.env', 'SECRET_{{ key | upper }}') {{ "}}" }}"
{%- else %}
    {{ key | ansible_var_name }}: {{ value | ansible }}
{%- endif %}
{%- endfor %}
{%- else %}
  vars: {}
{%- endif %}
  pre_tasks:
    - name: Wait for the VM to accept connections
      ansible.builtin.wait_for_connection:
        timeout: 600

    - name: Wait for cloud-init to finish first boot
      ansible.builtin.command: cloud-init status --wait
      register: homelab_cloud_init
      changed_when: false
      failed_when: homelab_cloud_init.rc not in [0, 2]

    - name: Gather facts
      ansible.builtin.setup:
  roles:
{%- for role in ansible.roles %}
    - role: {{ role | ansible }}
{%- endfor %}
{%- endif %}
