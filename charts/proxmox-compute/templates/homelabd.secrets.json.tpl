{#-
  Which environment variable of terraform and ansible-playbook carries which secret at apply
  time: user_password as TF_VAR_user_password (a sensitive Terraform variable) and every Ansible variable written as {secret: NAME, key: KEY} as SECRET_<NAME IN CAPITALS>,
  which the playbook looks up. Names only, never values; no file when the resource uses no
  secrets.
-#}
{%- set ns = namespace(bindings=[]) -%}
{%- if values.user_password is not none -%}
{%- if not (values.user_password is mapping and "secret" in values.user_password) -%}
{{- fail("user_password must be a secret reference {secret: NAME, key: KEY}: a password written in the definition would be in git and in the rendered files") -}}
{%- endif -%}
{%- set ns.bindings = ns.bindings + [{"env": "TF_VAR_user_password", "secret": values.user_password.secret, "key": values.user_password.key}] -%}
{%- endif -%}
{%- for key in ansible.vars if ansible.vars[key] is mapping and "secret" in ansible.vars[key] -%}
{%- set ns.bindings = ns.bindings + [{"env": "SECRET_" ~ (key | upper), "secret": ansible.vars[key].secret, "key": ansible.vars[key].key}] -%}
{%- endfor -%}
{%- if ns.bindings %}{{ ns.bindings | tojson(indent=2) }}
{% endif -%}
