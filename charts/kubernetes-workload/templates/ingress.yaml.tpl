{%- import "_helpers.tpl" as h -%}
{#- An Ingress to the Service; rendered only when `values.ingress.enabled`. It routes to
    `ingress.port` (a port name or number) or else to the first declared port. -#}
{%- set namespace = pool.properties.namespace if "namespace" in pool.properties else values.namespace -%}
{%- set ingress = values.ingress -%}
{%- if ingress.enabled -%}
{%- if not values.ports -%}
{{ fail("kubernetes-workload: ingress.enabled needs at least one port in values.ports (resource " ~ resource.name ~ ")") }}
{%- endif -%}
{%- set first = values.ports[0] -%}
{%- set backend_port = ingress.port if ingress.port is not none else (first.name if "name" in first and first.name is not none else "port-" ~ first.container_port) -%}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ resource.name | tojson }}
  namespace: {{ namespace | tojson }}
  labels:
{{ h.labels(resource, "    ") }}
{%- set dims = h.dimension_annotations(resource, "    ") %}
{%- if ingress.annotations or (dims | trim) %}
  annotations:{{ dims }}
{%- for key in ingress.annotations %}
    {{ key | tojson }}: {{ ingress.annotations[key] | tojson }}
{%- endfor %}
{%- endif %}
spec:
{%- if ingress.class_name is not none %}
  ingressClassName: {{ ingress.class_name | tojson }}
{%- endif %}
{%- if ingress.tls_secret_name is not none %}
  tls:
    - secretName: {{ ingress.tls_secret_name | tojson }}
{%- if ingress.host is not none %}
      hosts: [{{ ingress.host | tojson }}]
{%- endif %}
{%- endif %}
  rules:
{%- if ingress.host is not none %}
    - host: {{ ingress.host | tojson }}
      http:
{%- else %}
    - http:
{%- endif %}
        paths:
          - path: {{ ingress.path | tojson }}
            pathType: {{ ingress.path_type | tojson }}
            backend:
              service:
                name: {{ resource.name | tojson }}
                port:
{%- if backend_port is number %}
                  number: {{ backend_port | tojson }}
{%- else %}
                  name: {{ backend_port | tojson }}
{%- endif %}
{% endif -%}
