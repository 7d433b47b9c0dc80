{%- import "_helpers.tpl" as h -%}
{#-
  The workload. Placement has already checked that the cluster pool can hold
  `resource.replicas` copies (on distinct nodes with high_availability), so the pods are
  not pinned to nodes; the exception is a GPU workload, which goes to the nodes whose GPUs
  placement assigned.

  Kubernetes expands `$(VAR)` in a container's command and args (and env values), so
  those go through `kube_command`, which doubles every `$` (docs/charts.md, "Values are
  data"). The environment reaches the container through a ConfigMap and `envFrom`, which
  is never expanded.
-#}
{%- if values.image is none -%}
{{ fail("kubernetes-workload: no image: set spec.chart.values.image for resource " ~ resource.name) }}
{%- endif -%}
{%- set envs = namespace(plain=[], secret=[]) -%}
{%- for key, value in values.env | items -%}
{%- if value is mapping and "secret" in value -%}
{%- set envs.secret = envs.secret + [key] -%}
{%- else -%}
{%- set envs.plain = envs.plain + [key] -%}
{%- endif -%}
{%- endfor -%}
{%- set namespace = pool.properties.namespace if "namespace" in pool.properties else values.namespace -%}
{%- set volume_names = values.volumes | map(attribute="name") | list -%}
{%- set gpu_nodes = placement.gpus | map(attribute="node") | unique | list -%}
{%- set ha = resource.high_availability and resource.replicas > 1 -%}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ resource.name | tojson }}
  namespace: {{ namespace | tojson }}
  labels:
{{ h.labels(resource, "    ") }}{{ h.metadata_annotations(resource, "  ") }}
spec:
  replicas: {{ resource.replicas | tojson }}
  revisionHistoryLimit: {{ values.revision_history_limit | tojson }}
  selector:
    matchLabels:
{{ h.selector_labels(resource, "      ") }}
  strategy:
{%- if resource.gpu %}
    # The assigned GPUs are all in use: stop the old pods before starting new ones.
    type: Recreate
{%- elif values.volumes and resource.replicas == 1 %}
    # A ReadWriteOnce volume can be attached to one pod only: stop the old pod first.
    type: Recreate
{%- elif ha %}
    # One replica per node may leave no node for a surge pod: replace one at a time.
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 0
      maxUnavailable: 1
{%- else %}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
{%- endif %}
  template:
    metadata:
      labels:
{{ h.labels(resource, "        ") }}
{%- if resource.monitoring or (resource.backup_required and volume_names) or values.env %}
      annotations:
{%- if values.env %}
        # Changes to the environment roll the pods (the ConfigMap alone would not).
        homelab.ai/env: {{ values.env | tojson | tojson }}
{%- endif %}
{%- if resource.monitoring %}
        prometheus.io/scrape: "true"
        prometheus.io/path: {{ values.monitoring.path | tojson }}
{%- if values.monitoring.port is not none %}
        prometheus.io/port: {{ values.monitoring.port | string | tojson }}
{%- elif values.ports %}
        prometheus.io/port: {{ values.ports[0].container_port | string | tojson }}
{%- endif %}
{%- endif %}
{%- if resource.backup_required and volume_names %}
        # Velero file-system backup (kopia/restic) of these pod volumes.
        backup.velero.io/backup-volumes: {{ volume_names | join(",") | tojson }}
{%- endif %}
{%- endif %}
    spec:
{%- if resource.gpu and values.gpu.runtime_class_name is not none %}
      runtimeClassName: {{ values.gpu.runtime_class_name | tojson }}
{%- endif %}
{%- if resource.gpu and values.gpu.node_selector %}
      nodeSelector:
{%- for key in values.gpu.node_selector %}
        {{ key | tojson }}: {{ values.gpu.node_selector[key] | tojson }}
{%- endfor %}
{%- endif %}
{%- if ha or (resource.gpu and gpu_nodes and values.gpu.pin_to_placement) %}
      affinity:
{%- if resource.gpu and gpu_nodes and values.gpu.pin_to_placement %}
        nodeAffinity:
          # The nodes whose GPUs placement assigned to this resource.
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - key: kubernetes.io/hostname
                    operator: In
                    values: {{ gpu_nodes | tojson }}
{%- endif %}
{%- if ha %}
        podAntiAffinity:
{%- if values.ha.anti_affinity == "required" %}
          requiredDuringSchedulingIgnoredDuringExecution:
            - topologyKey: kubernetes.io/hostname
              labelSelector:
                matchLabels:
{{ h.selector_labels(resource, "                  ") }}
{%- else %}
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
{{ h.selector_labels(resource, "                    ") }}
{%- endif %}
{%- endif %}
{%- endif %}
      containers:
        - name: {{ resource.name | tojson }}
          image: {{ values.image | tojson }}
          imagePullPolicy: {{ values.image_pull_policy | tojson }}
{%- if values.command is not none %}
          command: {{ values.command | map("string") | list | kube_command }}
{%- endif %}
{%- if values.args is not none %}
          args: {{ values.args | map("string") | list | kube_command }}
{%- endif %}
{%- if values.ports %}
          ports:
{%- for port in values.ports %}
            - name: {{ (port.name if "name" in port and port.name is not none else "port-" ~ port.container_port) | tojson }}
              containerPort: {{ port.container_port | tojson }}
              protocol: {{ (port.protocol if "protocol" in port and port.protocol is not none else "TCP") | upper | tojson }}
{%- endfor %}
{%- endif %}
{%- if envs.plain %}
          envFrom:
            - configMapRef:
                name: {{ (resource.name ~ "-env") | tojson }}
{%- endif %}
{%- if envs.secret %}
          # Secret references: the Secret is applied by homelabd on kubectl's stdin with
          # the values; this file names them only.
          env:
{%- for key in envs.secret %}
            - name: {{ key | tojson }}
              valueFrom:
                secretKeyRef:
                  name: {{ (resource.name ~ "-secrets") | tojson }}
                  key: {{ key | tojson }}
{%- endfor %}
{%- endif %}
          resources:
            requests:
              cpu: {{ resource.cpu | string | tojson }}
              memory: {{ (resource.memory_mb ~ "Mi") | tojson }}
            limits:
              cpu: {{ resource.cpu | string | tojson }}
              memory: {{ (resource.memory_mb ~ "Mi") | tojson }}
{%- if resource.gpu %}
              {{ values.gpu.resource_name | tojson }}: 1
{%- endif %}
{%- if values.volumes %}
          volumeMounts:
{%- for volume in values.volumes %}
            - name: {{ volume.name | tojson }}
              mountPath: {{ volume.mount_path | tojson }}
{%- endfor %}
{%- endif %}
{%- if values.health_check is not none %}
{%- set hc = values.health_check %}
{%- for probe in ["readinessProbe", "livenessProbe"] %}
          {{ probe }}:
{%- if "path" in hc and hc.path is not none %}
            httpGet:
              path: {{ hc.path | tojson }}
              port: {{ hc.port | tojson }}
{%- else %}
            tcpSocket:
              port: {{ hc.port | tojson }}
{%- endif %}
{%- if probe == "livenessProbe" %}
            initialDelaySeconds: {{ values.probes.liveness_initial_delay_seconds | tojson }}
            periodSeconds: 20
            failureThreshold: 6
{%- else %}
            periodSeconds: 10
            failureThreshold: 3
{%- endif %}
{%- endfor %}
{%- endif %}
{%- if values.volumes %}
      volumes:
{%- for volume in values.volumes %}
        - name: {{ volume.name | tojson }}
          persistentVolumeClaim:
            claimName: {{ (resource.name ~ "-" ~ volume.name) | tojson }}
{%- endfor %}
{%- endif %}
