{#-
  Which environment variable of `docker compose` carries which secret at apply time:
  every env entry written as {secret: NAME, key: KEY}. Names only, never values; no file
  when the resource uses no secrets.
-#}
{%- set ns = namespace(bindings=[]) -%}
{%- for key in values.env if values.env[key] is mapping and "secret" in values.env[key] -%}
{%- set ns.bindings = ns.bindings + [{"env": key, "secret": values.env[key].secret, "key": values.env[key].key}] -%}
{%- endfor -%}
{%- if ns.bindings %}{{ ns.bindings | tojson(indent=2) }}
{% endif -%}
