{%- import "_helpers.tpl" as h -%}
{#- With high_availability, keep all but one replica up through voluntary disruptions
    (node drains, cluster upgrades). -#}
{%- set namespace = pool.properties.namespace if "namespace" in pool.properties else values.namespace -%}
{%- if resource.high_availability and resource.replicas > 1 -%}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ resource.name | tojson }}
  namespace: {{ namespace | tojson }}
  labels:
{{ h.labels(resource, "    ") }}{{ h.metadata_annotations(resource, "  ") }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
{{ h.selector_labels(resource, "      ") }}
{% endif -%}
