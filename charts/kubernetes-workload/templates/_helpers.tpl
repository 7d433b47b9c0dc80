{#-
  Macros shared by the kubernetes-workload templates; this file renders to nothing.
  Imported macros do not see the render context, so everything is passed in.

  Dimensions become Kubernetes metadata as follows (Kubernetes limits label values and
  the name part of label keys to 63 characters of [A-Za-z0-9._-], starting and ending
  alphanumeric; annotation values are free text):
    - key and value both label-safe      -> label      homelab.ai/<key>: <value>
    - key label-safe, value not          -> annotation homelab.ai/<key>: <value>
    - key not label-safe, or reserved    -> annotation homelab.ai/dimensions: a JSON object
      (reserved: the keys this chart sets itself)  holding exactly those dimensions
  so every dimension appears exactly once, and only label-safe ones are selectable.
-#}

{#- "yes" when `v` is a non-empty Kubernetes label value / label-name segment, else "". -#}
{%- macro label_safe(v) -%}
{%- set alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" -%}
{%- set allowed = alnum ~ "-_." -%}
{%- set ns = namespace(ok=false) -%}
{%- if (v | length) > 0 and (v | length) <= 63 -%}
{%- set ns.ok = (v[:1] in alnum) and (v[-1:] in alnum) -%}
{%- for c in v -%}
{%- if c not in allowed %}{% set ns.ok = false %}{% endif -%}
{%- endfor -%}
{%- endif -%}
{%- if ns.ok %}yes{% endif -%}
{%- endmacro -%}

{#- "label", "annotation" or "json": where the dimension `key: value` goes (see above). -#}
{%- macro dimension_kind(key, value) -%}
{%- if key in ["resource", "workload-type", "environment", "backup", "volume", "dimensions"] or not label_safe(key) -%}
json
{%- elif label_safe(value) -%}
label
{%- else -%}
annotation
{%- endif -%}
{%- endmacro -%}

{#- Labels that select the resource's pods. Never change them: a Deployment's selector is immutable. -#}
{%- macro selector_labels(resource, pad) -%}
{{ pad }}app.kubernetes.io/name: {{ resource.name | tojson }}
{{ pad }}homelab.ai/resource: {{ resource.name | tojson }}
{%- endmacro -%}

{#- Every label the chart sets on its objects, one `key: value` line each, indented by `pad`. -#}
{%- macro labels(resource, pad) -%}
{{ selector_labels(resource, pad) }}
{{ pad }}app.kubernetes.io/managed-by: homelabd
{{ pad }}homelab.ai/workload-type: {{ resource.workload_type | tojson }}
{{ pad }}homelab.ai/environment: {{ resource.environment | tojson }}
{%- if resource.backup_required %}
{{ pad }}homelab.ai/backup: "true"
{%- endif %}
{%- for key in resource.dimensions %}
{%- if dimension_kind(key, resource.dimensions[key]) == "label" %}
{{ pad }}{{ ("homelab.ai/" ~ key) | tojson }}: {{ resource.dimensions[key] | tojson }}
{%- endif %}
{%- endfor %}
{%- endmacro -%}

{#- Annotations for the dimensions that cannot be labels; nothing when there are none. -#}
{%- macro dimension_annotations(resource, pad) -%}
{%- set ns = namespace(json=[]) -%}
{%- for key in resource.dimensions %}
{%- set kind = dimension_kind(key, resource.dimensions[key]) %}
{%- if kind == "annotation" %}
{{ pad }}{{ ("homelab.ai/" ~ key) | tojson }}: {{ resource.dimensions[key] | tojson }}
{%- elif kind == "json" %}
{%- set ns.json = ns.json + [(key | tojson) ~ ": " ~ (resource.dimensions[key] | tojson)] %}
{%- endif %}
{%- endfor %}
{%- if ns.json %}
{{ pad }}homelab.ai/dimensions: {{ ("{" ~ (ns.json | join(", ")) ~ "}") | tojson }}
{%- endif %}
{%- endmacro -%}

{#- The object annotations block (`annotations:` plus entries) or nothing at all. -#}
{%- macro metadata_annotations(resource, pad) -%}
{%- set body = dimension_annotations(resource, pad ~ "  ") -%}
{%- if body | trim %}
{{ pad }}annotations:{{ body }}
{%- endif %}
{%- endmacro -%}
