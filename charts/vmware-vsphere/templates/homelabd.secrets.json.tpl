{#-
  Which environment variable of terraform and ansible-playbook carries which secret at apply
  time: every Ansible variable written as {secret: NAME, key: KEY} as SECRET_<NAME IN CAPITALS>,
  which the playbook looks up. Names only, never values; no file when the resource uses no
  secrets.
-#}
{%- set ns = namespace(bindings=[]) -%}
{%- for key in ansible.vars if ansible.vars[key] is mapping and "secret" in ansible.vars[key] -%}
{%- set ns.bindings = ns.bindings + [{"env": "SECRET_" ~ (key | upper), "secret": ansible.vars[key].secret, "key": ansible.vars[key].key}] -%}
{%- endfor -%}
{%- if ns.bindings %}{{ ns.bindings | tojson(indent=2) }}
{% endif -%}
