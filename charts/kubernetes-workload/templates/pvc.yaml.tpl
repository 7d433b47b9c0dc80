{%- import "_helpers.tpl" as h -%}
{#- One PersistentVolumeClaim per entry of `values.volumes`, named <resource>-<volume>.
    Access mode: `values.volume_access_mode`, else ReadWriteOnce for a single replica and
    ReadWriteMany when several replicas share the claim (the storage class must support it). -#}
{%- set namespace = pool.properties.namespace if "namespace" in pool.properties else values.namespace -%}
{%- set access_mode = values.volume_access_mode if values.volume_access_mode is not none else ("ReadWriteOnce" if resource.replicas == 1 else "ReadWriteMany") -%}
{%- for volume in values.volumes -%}
{%- if not loop.first -%}
---
{% endif -%}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ (resource.name ~ "-" ~ volume.name) | tojson }}
  namespace: {{ namespace | tojson }}
  labels:
{{ h.labels(resource, "    ") }}
    homelab.ai/volume: {{ volume.name | tojson }}{{ h.metadata_annotations(resource, "  ") }}
spec:
  accessModes: [{{ access_mode | tojson }}]
{%- if values.storage_class is not none %}
  storageClassName: {{ values.storage_class | tojson }}
{%- endif %}
  resources:
    requests:
      storage: {{ (volume.size_gb ~ "Gi") | tojson }}
{% endfor -%}
