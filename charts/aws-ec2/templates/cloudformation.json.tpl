{#-
  CloudFormation stack for one EC2 instance. Every value that came from the user, the
  pool or the values is written through the `cfn` filter: JSON, and refused when
  CloudFormation would evaluate it (an intrinsic function such as {"Ref": ...} or a
  {{resolve:...}} dynamic reference). No user value is placed inside an Fn::Sub
  string; one that had to be would go through `cfn_sub` (docs/charts.md).
-#}
{%- set props = pool.properties -%}
{%- set ami = props.ami if "ami" in props else values.ami -%}
{%- set subnet_id = props.subnet_id if "subnet_id" in props else values.subnet_id -%}
{%- set vpc_id = props.vpc_id if "vpc_id" in props else values.vpc_id -%}
{%- set key_name = props.key_name if "key_name" in props else values.key_name -%}
{%- if subnet_id is none -%}
{{ fail("aws-ec2: no subnet: give the pool a `subnet_id` property or set values.subnet_id (resource " ~ resource.name ~ ")") }}
{%- endif -%}
{#- The first instance type, smallest first, that has the cpu and memory asked for. -#}
{%- set fitting = values.instance_types | selectattr("cpu", "ge", resource.cpu) | selectattr("memory_gb", "ge", resource.memory_gb) | list -%}
{%- if not fitting -%}
{{ fail("aws-ec2: no instance type in values.instance_types has " ~ resource.cpu ~ " vCPU and " ~ resource.memory_gb ~ " GiB (resource " ~ resource.name ~ ")") }}
{%- endif -%}
{%- set instance_type = fitting[0].name -%}
{#- AWS Backup wants cron(min hour day-of-month month day-of-week year), with `?` in one
    of the two day fields and Sunday = 1. -#}
{%- set cron = (resource.backup_schedule if resource.backup_schedule is not none else values.backup.schedule) | split -%}
{%- if resource.backup_required and values.backup.create_plan -%}
{%- if cron | length != 5 -%}
{{ fail("aws-ec2: backup_schedule must be a 5-field cron expression, got " ~ (cron | join(" "))) }}
{%- elif cron[4] == "*" -%}
{%- set aws_cron = [cron[0], cron[1], cron[2], cron[3], "?", "*"] -%}
{%- elif cron[2] == "*" and cron[4] in ["0", "1", "2", "3", "4", "5", "6", "7"] -%}
{%- set aws_cron = [cron[0], cron[1], "?", cron[3], ((cron[4] | int) % 7 + 1) | string, "*"] -%}
{%- else -%}
{{ fail("aws-ec2: AWS Backup needs a day-of-week of * or a single day 0-7 with day-of-month *, got " ~ (cron | join(" "))) }}
{%- endif -%}
{%- endif -%}
{#- Dimensions become tags, except keys the chart sets itself and AWS's reserved `aws:`
    prefix; keys are cut to 128 characters and values to 256, AWS's limits. -#}
{%- set reserved = ["Name", "homelab.ai/resource", "homelab.ai/managed-by", "homelab.ai/workload-type", "homelab.ai/environment", "homelab.ai/backup", "homelab.ai/backup-schedule"] -%}
{%- macro tags(pad) -%}
[
{{ pad }}  {"Key": "Name", "Value": {{ resource.name | cfn }}},
{{ pad }}  {"Key": "homelab.ai/resource", "Value": {{ resource.name | cfn }}},
{{ pad }}  {"Key": "homelab.ai/managed-by", "Value": "homelabd"},
{{ pad }}  {"Key": "homelab.ai/workload-type", "Value": {{ resource.workload_type | cfn }}},
{{ pad }}  {"Key": "homelab.ai/environment", "Value": {{ resource.environment | cfn }}}
{%- if resource.backup_required %},
{{ pad }}  {"Key": "homelab.ai/backup", "Value": "true"}
{%- if resource.backup_schedule is not none %},
{{ pad }}  {"Key": "homelab.ai/backup-schedule", "Value": {{ resource.backup_schedule | cfn }}}
{%- endif %}
{%- endif %}
{%- for key in resource.dimensions if key not in reserved and (key[:4] | lower) != "aws:" %},
{{ pad }}  {"Key": {{ key[:128] | cfn }}, "Value": {{ resource.dimensions[key][:256] | cfn }}}
{%- endfor %}
{{ pad }}]
{%- endmacro -%}
{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Description": {{ ("homelabd " ~ resource.name ~ " (" ~ resource.workload_type ~ ", " ~ resource.environment ~ "): rendered by " ~ chart.name ~ "@" ~ chart.version) | cfn }},
  "Parameters": {
    "AmiId": {
      "Type": "AWS::EC2::Image::Id",
{%- if ami is not none %}
      "Default": {{ ami | cfn }},
{%- endif %}
      "Description": "AMI of the instance"
    },
    "KeyName": {
      "Type": "String",
      "Default": {{ (key_name if key_name is not none else "") | cfn }},
      "Description": "EC2 key pair for SSH; empty for none"
    }
  },
  "Conditions": {
    "HasKeyName": {"Fn::Not": [{"Fn::Equals": [{"Ref": "KeyName"}, ""]}]}
  },
  "Resources": {
    "SecurityGroup": {
      "Type": "AWS::EC2::SecurityGroup",
      "Properties": {
        "GroupDescription": {{ ("homelabd " ~ resource.name) | cfn }},
{%- if vpc_id is not none %}
        "VpcId": {{ vpc_id | cfn }},
{%- endif %}
{%- if values.ingress_rules %}
        "SecurityGroupIngress": [
{%- for rule in values.ingress_rules %}
          {
            "IpProtocol": {{ (rule.protocol if "protocol" in rule and rule.protocol is not none else "tcp") | cfn }},
            "FromPort": {{ rule.port | cfn }},
            "ToPort": {{ rule.port | cfn }},
            "CidrIp": {{ rule.cidr | cfn }}
{%- if "description" in rule and rule.description is not none %},
            "Description": {{ rule.description | cfn }}
{%- endif %}
          }{% if not loop.last %},{% endif %}
{%- endfor %}
        ],
{%- endif %}
        "Tags": {{ tags("        ") }}
      }
    },
    "Instance": {
      "Type": "AWS::EC2::Instance",
      "Properties": {
        "ImageId": {"Ref": "AmiId"},
        "InstanceType": {{ instance_type | cfn }},
        "KeyName": {"Fn::If": ["HasKeyName", {"Ref": "KeyName"}, {"Ref": "AWS::NoValue"}]},
        "SubnetId": {{ subnet_id | cfn }},
        "SecurityGroupIds": [{"Ref": "SecurityGroup"}],
{%- if values.instance_profile is not none %}
        "IamInstanceProfile": {{ values.instance_profile | cfn }},
{%- endif %}
        "Monitoring": {{ resource.monitoring | cfn }},
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "BlockDeviceMappings": [
          {
            "DeviceName": {{ values.root_device_name | cfn }},
            "Ebs": {
              "VolumeType": "gp3",
              "VolumeSize": {{ resource.storage_gb | cfn }},
              "Encrypted": true,
              "DeleteOnTermination": true
            }
          }
        ],
        "Tags": {{ tags("        ") }}
      }
    }
{%- if resource.backup_required and values.backup.create_plan %},
    "BackupPlan": {
      "Type": "AWS::Backup::BackupPlan",
      "Properties": {
        "BackupPlan": {
          "BackupPlanName": {{ ("homelabd-" ~ resource.name) | cfn }},
          "BackupPlanRule": [
            {
              "RuleName": "daily",
              "TargetBackupVault": {{ values.backup.vault_name | cfn }},
              "ScheduleExpression": {{ ("cron(" ~ (aws_cron | join(" ")) ~ ")") | cfn }},
              "Lifecycle": {"DeleteAfterDays": {{ values.backup.delete_after_days | cfn }}}
            }
          ]
        }
      }
    },
    "BackupSelection": {
      "Type": "AWS::Backup::BackupSelection",
      "Properties": {
        "BackupPlanId": {"Ref": "BackupPlan"},
        "BackupSelection": {
          "SelectionName": {{ resource.name | cfn }},
{%- if values.backup.iam_role_arn is not none %}
          "IamRoleArn": {{ values.backup.iam_role_arn | cfn }},
{%- else %}
          "IamRoleArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/service-role/AWSBackupDefaultServiceRole"},
{%- endif %}
          "Resources": [{"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/${Instance}"}]
        }
      }
    }
{%- endif %}
  },
  "Outputs": {
    "InstanceId": {"Value": {"Ref": "Instance"}, "Description": "EC2 instance id"},
    "PrivateIp": {"Value": {"Fn::GetAtt": ["Instance", "PrivateIp"]}, "Description": "Private IPv4 address"},
    "InstanceType": {"Value": {{ instance_type | cfn }}, "Description": "Instance type chosen for the requested size"},
    "SecurityGroupId": {"Value": {"Fn::GetAtt": ["SecurityGroup", "GroupId"]}, "Description": "Security group of the instance"}
  }
}
