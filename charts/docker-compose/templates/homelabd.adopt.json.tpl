{#-
  The container this resource adopted: one started outside homelabd (`docker run`) that
  the definition describes as it runs. The executor takes it over as it is instead of
  creating a new one, until a changed render (or a re-apply) recreates it under compose;
  `withheld_env` names the variables it held that were left out of git (secrets): the
  executor refuses that recreation until every one of them is set in `env` again. No
  file when nothing is adopted.
-#}
{%- if values.adopt is not none -%}
{%- if "container" not in values.adopt or values.adopt.container is none -%}
{{ fail("docker-compose: adopt needs container (the name or id of the container to take over) for resource " ~ resource.name) }}
{%- endif -%}
{{ {"container": values.adopt.container | string, "withheld_env": (values.adopt.withheld_env if "withheld_env" in values.adopt and values.adopt.withheld_env is not none else []) | map("string") | list} | tojson(indent=2) }}
{% endif -%}
