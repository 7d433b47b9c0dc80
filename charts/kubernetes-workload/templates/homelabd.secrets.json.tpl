{#-
  Which key of the Secret `<name>-secrets` carries which secret: every env entry written as
  {secret: NAME, key: KEY}. homelabd builds that Secret at apply time and sends it to
  `kubectl apply -f -` on stdin. Names only, never values; no file without secrets.
-#}
{%- set ns = namespace(bindings=[]) -%}
{%- for key in values.env if values.env[key] is mapping and "secret" in values.env[key] -%}
{%- set ns.bindings = ns.bindings + [{"env": key, "secret": values.env[key].secret, "key": values.env[key].key}] -%}
{%- endfor -%}
{%- if ns.bindings %}{{ ns.bindings | tojson(indent=2) }}
{% endif -%}
