{%- import "_helpers.tpl" as h -%}
{#- The container's environment (`values.env`), without its secret references: those come
    from the Secret `<name>-secrets`, which homelabd applies on kubectl's stdin at apply
    time (deployment.yaml.tpl refers to it). Rendered only when there is a plain entry. -#}
{%- set envs = namespace(plain=[]) -%}
{%- for key, value in values.env | items if not (value is mapping and "secret" in value) -%}
{%- set envs.plain = envs.plain + [[key, value]] -%}
{%- endfor -%}
{%- set namespace = pool.properties.namespace if "namespace" in pool.properties else values.namespace -%}
{%- if envs.plain -%}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ (resource.name ~ "-env") | tojson }}
  namespace: {{ namespace | tojson }}
  labels:
{{ h.labels(resource, "    ") }}{{ h.metadata_annotations(resource, "  ") }}
data:
{%- for key, value in envs.plain %}
  {{ key | tojson }}: {{ value | string | tojson }}
{%- endfor %}
{% endif -%}
