# Rendered by homelabd from chart {{ chart.name }} {{ chart.version }}. Do not edit.
# Run from this directory: ansible-playbook -i inventory.yml playbook.yml
- name: {{ ("Configure " ~ resource.name) | tojson }}
  hosts: {{ ("homelab_" ~ (resource.name | replace("-", "_"))) | tojson }}
  become: true
  gather_facts: false
{%- if ansible.vars %}
  vars:
{%- for key, value in ansible.vars | items %}
    {{ key | tojson }}: {{ value | tojson }}
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
    - role: {{ role | tojson }}
{%- endfor %}
