{#-
  admin_password, a secret reference only, is the ARM template's securestring parameter
  adminPassword: homelabd passes it to `az deployment group create` as a parameters file on
  stdin (the binding's variable ARM_PARAMETER_<name> names the parameter). Names only.
-#}
{%- if values.admin_password is not none -%}
{%- if not (values.admin_password is mapping and "secret" in values.admin_password) -%}
{{- fail("admin_password must be a secret reference {secret: NAME, key: KEY}: a password written in the definition would be in git and in the rendered files") -}}
{%- endif -%}
{{ [{"env": "ARM_PARAMETER_adminPassword", "secret": values.admin_password.secret, "key": values.admin_password.key}] | tojson(indent=2) }}
{% endif -%}
