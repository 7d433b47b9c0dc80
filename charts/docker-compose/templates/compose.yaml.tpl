{#-
  A compose project with one service for a single Docker host.

  Compose interpolates `${VAR}` and `$VAR` in every string value of the file (not in
  keys), so every value goes through the `compose` filter (`$` doubled, then JSON-quoted)
  and every key through `tojson` (docs/charts.md, "Values are data").

  There is no top-level `name:` key: docker-compose v1 rejects it. The project name is
  the resource name: the directory is rendered-configs/docker/<resource>/, and the
  executor passes `--project-name <resource>` as well.

  A secret reference in env ({secret: NAME, key: KEY}) renders as `KEY: null`: compose
  then takes the value from its own environment, where the executor puts it at apply
  time (homelabd.secrets.json names the variable). The file never holds the value.

  Docker labels may hold any text, so every dimension becomes a label
  `homelab.ai/<key>`, except keys the chart sets itself, which are kept in the JSON
  label `homelab.ai/dimensions`.
-#}
{%- macro q(v) %}{{ v | string | compose }}{% endmacro -%}
{%- if values.image is none -%}
{{ fail("docker-compose: no image: set spec.chart.values.image for resource " ~ resource.name) }}
{%- endif -%}
{%- set reserved = ["resource", "managed-by", "workload-type", "environment", "backup", "backup-schedule", "dimensions"] -%}
{%- set ns = namespace(json=[]) -%}
{%- for key in resource.dimensions if key in reserved -%}
{%- set ns.json = ns.json + [(key | tojson) ~ ": " ~ (resource.dimensions[key] | tojson)] -%}
{%- endfor -%}
services:
  {{ resource.name | tojson }}:
    image: {{ q(values.image) }}
    hostname: {{ resource.name | tojson }}
    restart: {{ values.restart | compose }}
{%- if values.command is not none %}
    entrypoint: {{ values.command | map("string") | list | compose }}
{%- endif %}
{%- if values.args is not none %}
    command: {{ values.args | map("string") | list | compose }}
{%- endif %}
{%- if values.env %}
    environment:
{%- for key in values.env %}
{%- if values.env[key] is mapping and "secret" in values.env[key] %}
      {{ key | string | tojson }}: null
{%- else %}
      {{ key | string | tojson }}: {{ q(values.env[key]) }}
{%- endif %}
{%- endfor %}
{%- endif %}
{%- set ports = values.ports | selectattr("host_port", "defined") | rejectattr("host_port", "none") | list %}
{%- set exposed = values.ports | reject("in", ports) | list %}
{%- if ports %}
    ports:
{%- for port in ports %}
{%- set protocol = (port.protocol if "protocol" in port and port.protocol is not none else "tcp") | lower %}
{%- set address = (values.bind_address ~ ":") if values.bind_address is not none else "" %}
      - {{ q(address ~ port.host_port ~ ":" ~ port.container_port ~ "/" ~ protocol) }}
{%- endfor %}
{%- endif %}
{%- if exposed %}
    expose:
{%- for port in exposed %}
{%- set protocol = (port.protocol if "protocol" in port and port.protocol is not none else "tcp") | lower %}
      - {{ q(port.container_port ~ "/" ~ protocol) }}
{%- endfor %}
{%- endif %}
{%- if values.volumes %}
    volumes:
{%- for volume in values.volumes %}
{%- if "host_path" in volume and volume.host_path is not none %}
      - type: bind
        source: {{ q(volume.host_path) }}
{%- else %}
      - type: volume
        source: {{ q(volume.name) }}
{%- endif %}
        target: {{ q(volume.mount_path) }}
{%- if "read_only" in volume and volume.read_only %}
        read_only: true
{%- endif %}
{%- endfor %}
{%- endif %}
{%- if resource.network != "default" %}
    networks:
      - {{ q(resource.network) }}
{%- endif %}
{%- if values.health_check is not none %}
{%- set hc = values.health_check %}
    healthcheck:
{%- if "command" in hc and hc.command is not none %}
      test: {{ (["CMD"] + hc.command) | map("string") | list | compose }}
{%- elif "path" in hc and hc.path is not none %}
      test: {{ ["CMD", "curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", "http://127.0.0.1:" ~ hc.port ~ hc.path] | compose }}
{%- else %}
      test: {{ ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" ~ (hc.port | int)] | compose }}
{%- endif %}
      interval: {{ values.healthcheck_timing.interval | compose }}
      timeout: {{ values.healthcheck_timing.timeout | compose }}
      retries: {{ values.healthcheck_timing.retries | compose }}
      start_period: {{ values.healthcheck_timing.start_period | compose }}
{%- endif %}
{%- if values.resource_limits or resource.gpu %}
    deploy:
      resources:
{%- if values.resource_limits %}
        limits:
          cpus: {{ resource.cpu | string | tojson }}
          memory: {{ (resource.memory_mb ~ "M") | tojson }}
{%- endif %}
        reservations:
{%- if values.resource_limits %}
          cpus: {{ resource.cpu | string | tojson }}
          memory: {{ (resource.memory_mb ~ "M") | tojson }}
{%- endif %}
{%- if resource.gpu %}
          devices:
            - driver: {{ values.gpu.driver | compose }}
              count: {{ values.gpu.count | compose }}
              capabilities: [gpu]
{%- endif %}
{%- endif %}
    logging:
      driver: {{ values.logging.driver | compose }}
{%- if values.logging.options %}
      options:
{%- for key in values.logging.options %}
        {{ key | tojson }}: {{ q(values.logging.options[key]) }}
{%- endfor %}
{%- endif %}
    labels:
      homelab.ai/resource: {{ resource.name | tojson }}
      homelab.ai/managed-by: homelabd
      homelab.ai/workload-type: {{ resource.workload_type | tojson }}
      homelab.ai/environment: {{ resource.environment | tojson }}
{%- for key in resource.dimensions if key not in reserved %}
      {{ ("homelab.ai/" ~ key) | tojson }}: {{ q(resource.dimensions[key]) }}
{%- endfor %}
{%- if ns.json %}
      homelab.ai/dimensions: {{ q("{" ~ (ns.json | join(", ")) ~ "}") }}
{%- endif %}
{%- for key in values.labels if (key | string)[:11] != "homelab.ai/" and (key | string)[:14] != "prometheus.io/" and not (resource.backup_required and key in values.backup.labels) %}
      {{ key | string | tojson }}: {{ q(values.labels[key]) }}
{%- endfor %}
{%- if resource.monitoring %}
      prometheus.io/scrape: "true"
      prometheus.io/path: {{ q(values.monitoring.path) }}
{%- if values.monitoring.port is not none %}
      prometheus.io/port: {{ q(values.monitoring.port) }}
{%- elif values.ports %}
      prometheus.io/port: {{ q(values.ports[0].container_port) }}
{%- endif %}
{%- endif %}
{%- if resource.backup_required %}
      homelab.ai/backup: "true"
{%- if resource.backup_schedule is not none %}
      homelab.ai/backup-schedule: {{ q(resource.backup_schedule) }}
{%- endif %}
{%- for key in values.backup.labels %}
      {{ key | string | tojson }}: {{ q(values.backup.labels[key]) }}
{%- endfor %}
{%- endif %}
{%- set named = namespace(volumes=[]) -%}
{%- for volume in values.volumes if not ("host_path" in volume and volume.host_path is not none) -%}
{%- set named.volumes = named.volumes + [volume] -%}
{%- endfor -%}
{%- if named.volumes %}
volumes:
{%- for volume in named.volumes %}
  {{ volume.name | string | tojson }}:
{%- if "external" in volume and volume.external %}
    # An existing volume, used under its own name (never created, labelled or removed).
    external: true
{%- else %}
    labels:
      homelab.ai/resource: {{ resource.name | tojson }}
      homelab.ai/managed-by: homelabd
      homelab.ai/size-gb: {{ q(volume.size_gb) }}
{%- if resource.backup_required %}
      homelab.ai/backup: "true"
{%- endif %}
{%- endif %}
{%- endfor %}
{%- endif %}
{%- if resource.network != "default" %}
networks:
  {{ resource.network | tojson }}:
    # A network the host already has (e.g. shared with a reverse proxy).
    external: true
{%- endif %}
