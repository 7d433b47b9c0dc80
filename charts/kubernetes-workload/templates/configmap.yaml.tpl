{%- import "_helpers.tpl" as h -%}
{#- The container's environment (`values.env`; never secrets: those belong in a Secret the
    cluster already holds). Rendered only when there is an environment. -#}
{%- set namespace = pool.properties.namespace if "namespace" in pool.properties else values.namespace -%}
{%- if values.env -%}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ (resource.name ~ "-env") | tojson }}
  namespace: {{ namespace | tojson }}
  labels:
{{ h.labels(resource, "    ") }}{{ h.metadata_annotations(resource, "  ") }}
data:
{%- for key in values.env %}
  {{ key | tojson }}: {{ values.env[key] | string | tojson }}
{%- endfor %}
{% endif -%}
