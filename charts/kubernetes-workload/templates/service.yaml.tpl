{%- import "_helpers.tpl" as h -%}
{#- A Service in front of the pods; rendered only when the container declares ports.
    `host_port` is a Docker notion and is ignored here: use service_type or an ingress. -#}
{%- set namespace = pool.properties.namespace if "namespace" in pool.properties else values.namespace -%}
{%- if values.ports -%}
apiVersion: v1
kind: Service
metadata:
  name: {{ resource.name | tojson }}
  namespace: {{ namespace | tojson }}
  labels:
{{ h.labels(resource, "    ") }}{{ h.metadata_annotations(resource, "  ") }}
spec:
  type: {{ values.service_type | tojson }}
  selector:
{{ h.selector_labels(resource, "    ") }}
  ports:
{%- for port in values.ports %}
{%- set name = port.name if "name" in port and port.name is not none else "port-" ~ port.container_port %}
    - name: {{ name | tojson }}
      port: {{ port.container_port | tojson }}
      targetPort: {{ name | tojson }}
      protocol: {{ (port.protocol if "protocol" in port and port.protocol is not none else "TCP") | upper | tojson }}
{%- endfor %}
{% endif -%}
