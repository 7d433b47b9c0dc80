{#-
  ARM template for one Linux VM and its NIC. User strings never go into ARM
  expressions: pool properties become parameter defaults and expressions refer to the
  parameters. A string that starts with `[` and ends with `]` would be read as an
  expression, so every user value goes through the `arm` filter, which writes it as `[[`
  (ARM's escape) and JSON-quotes it (docs/charts.md, "Values are data").
-#}
{%- set props = pool.properties -%}
{%- set location = props.location if "location" in props else values.location -%}
{%- set vnet = props.vnet if "vnet" in props else values.vnet -%}
{%- set subnet = props.subnet if "subnet" in props else values.subnet -%}
{%- set vnet_rg = props.vnet_resource_group if "vnet_resource_group" in props else values.vnet_resource_group -%}
{%- set public_key = props.ssh_public_key if "ssh_public_key" in props else values.admin_public_key -%}
{%- if vnet is none or subnet is none -%}
{{ fail("azure-vm: no network: give the pool `vnet` and `subnet` properties or set values.vnet and values.subnet (resource " ~ resource.name ~ ")") }}
{%- endif -%}
{%- set fitting = values.vm_sizes | selectattr("cpu", "ge", resource.cpu) | selectattr("memory_gb", "ge", resource.memory_gb) | list -%}
{%- if not fitting -%}
{{ fail("azure-vm: no VM size in values.vm_sizes has " ~ resource.cpu ~ " vCPU and " ~ resource.memory_gb ~ " GiB (resource " ~ resource.name ~ ")") }}
{%- endif -%}
{%- set vm_size = fitting[0].name -%}
{%- set protect = resource.backup_required and values.backup.vault_name is not none -%}
{%- set password = values.admin_password is not none -%}
{#- Dimensions become tags. Azure tag names may not contain < > % & \ ? /: those
    characters become "_". Values are cut to 256 characters, Azure's limit. -#}
{%- macro tags() -%}
{
        "homelab-resource": {{ resource.name | arm }},
        "homelab-managed-by": "homelabd",
        "homelab-workload-type": {{ resource.workload_type | arm }},
        "homelab-environment": {{ resource.environment | arm }}
{%- if resource.backup_required %},
        "homelab-backup": "true"
{%- if resource.backup_schedule is not none %},
        "homelab-backup-schedule": {{ resource.backup_schedule | arm }}
{%- endif %}
{%- endif %}
{%- for key in resource.dimensions %},
        {{ (key | replace("<", "_") | replace(">", "_") | replace("%", "_") | replace("&", "_") | replace("\\", "_") | replace("?", "_") | replace("/", "_")) | arm }}: {{ resource.dimensions[key][:256] | arm }}
{%- endfor %}
      }
{%- endmacro -%}
{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "metadata": {
    "description": {{ ("homelabd " ~ resource.name ~ " (" ~ resource.workload_type ~ ", " ~ resource.environment ~ ")") | arm }},
    "generator": {{ (chart.name ~ "@" ~ chart.version) | tojson }}
  },
  "parameters": {
    "location": {
      "type": "string",
      "defaultValue": {% if location is not none %}{{ location | arm }}{% else %}"[resourceGroup().location]"{% endif %},
      "metadata": {"description": "Azure region of the VM and its NIC"}
    },
    "vnetName": {
      "type": "string",
      "defaultValue": {{ vnet | arm }},
      "metadata": {"description": "Existing virtual network"}
    },
    "subnetName": {
      "type": "string",
      "defaultValue": {{ subnet | arm }},
      "metadata": {"description": "Existing subnet of the virtual network"}
    },
    "vnetResourceGroup": {
      "type": "string",
      "defaultValue": {% if vnet_rg is not none %}{{ vnet_rg | arm }}{% else %}"[resourceGroup().name]"{% endif %},
      "metadata": {"description": "Resource group of the virtual network"}
    },
    "adminUsername": {
      "type": "string",
      "defaultValue": {{ values.admin_username | arm }},
      "metadata": {"description": "Administrator account; SSH key login only"}
    },
    "adminPublicKey": {
      "type": "string",
{%- if public_key is not none %}
      "defaultValue": {{ public_key | arm }},
{%- endif %}
      "metadata": {"description": "OpenSSH public key of the administrator"}
    }
{%- if password %},
    "adminPassword": {
      "type": "securestring",
      "metadata": {"description": "Administrator password, from a homelabd secret: passed at deploy time on az's stdin, never in this file"}
    }
{%- endif %}
{%- if protect %},
    "backupVaultName": {
      "type": "string",
      "defaultValue": {{ values.backup.vault_name | arm }},
      "metadata": {"description": "Recovery Services vault in this resource group"}
    },
    "backupPolicyName": {
      "type": "string",
      "defaultValue": {{ values.backup.policy_name | arm }},
      "metadata": {"description": "Backup policy of the vault"}
    }
{%- endif %}
  },
  "variables": {
    "vmName": {{ resource.name | tojson }},
    "nicName": {{ (resource.name ~ "-nic") | tojson }},
    "subnetId": "[resourceId(parameters('vnetResourceGroup'), 'Microsoft.Network/virtualNetworks/subnets', parameters('vnetName'), parameters('subnetName'))]"
  },
  "resources": [
    {
      "type": "Microsoft.Network/networkInterfaces",
      "apiVersion": "2023-09-01",
      "name": "[variables('nicName')]",
      "location": "[parameters('location')]",
      "tags": {{ tags() }},
      "properties": {
        "ipConfigurations": [
          {
            "name": "ipconfig1",
            "properties": {
              "privateIPAllocationMethod": "Dynamic",
              "subnet": {"id": "[variables('subnetId')]"}
            }
          }
        ]
      }
    },
    {
      "type": "Microsoft.Compute/virtualMachines",
      "apiVersion": "2024-03-01",
      "name": "[variables('vmName')]",
      "location": "[parameters('location')]",
      "tags": {{ tags() }},
      "dependsOn": [
        "[resourceId('Microsoft.Network/networkInterfaces', variables('nicName'))]"
      ],
{%- if resource.monitoring %}
      "identity": {"type": "SystemAssigned"},
{%- endif %}
      "properties": {
        "hardwareProfile": {"vmSize": {{ vm_size | arm }}},
        "storageProfile": {
          "imageReference": {
            "publisher": {{ values.os_image.publisher | arm }},
            "offer": {{ values.os_image.offer | arm }},
            "sku": {{ values.os_image.sku | arm }},
            "version": {{ values.os_image.version | arm }}
          },
          "osDisk": {
            "name": {{ (resource.name ~ "-osdisk") | tojson }},
            "createOption": "FromImage",
            "diskSizeGB": {{ resource.storage_gb | tojson }},
            "managedDisk": {"storageAccountType": {{ values.os_disk_type | arm }}},
            "deleteOption": "Delete"
          }
        },
        "osProfile": {
          "computerName": "[variables('vmName')]",
          "adminUsername": "[parameters('adminUsername')]",
{%- if password %}
          "adminPassword": "[parameters('adminPassword')]",
{%- endif %}
          "linuxConfiguration": {
            "disablePasswordAuthentication": {{ (not password) | tojson }},
            "provisionVMAgent": true,
            "ssh": {
              "publicKeys": [
                {
                  "path": "[format('/home/{0}/.ssh/authorized_keys', parameters('adminUsername'))]",
                  "keyData": "[parameters('adminPublicKey')]"
                }
              ]
            }
          }
        },
        "networkProfile": {
          "networkInterfaces": [
            {
              "id": "[resourceId('Microsoft.Network/networkInterfaces', variables('nicName'))]",
              "properties": {"deleteOption": "Delete"}
            }
          ]
        },
        "diagnosticsProfile": {
          "bootDiagnostics": {"enabled": {{ resource.monitoring | tojson }}}
        }
      }
    }
{%- if resource.monitoring %},
    {
      "type": "Microsoft.Compute/virtualMachines/extensions",
      "apiVersion": "2024-03-01",
      "name": "[format('{0}/AzureMonitorLinuxAgent', variables('vmName'))]",
      "location": "[parameters('location')]",
      "tags": {{ tags() }},
      "dependsOn": [
        "[resourceId('Microsoft.Compute/virtualMachines', variables('vmName'))]"
      ],
      "properties": {
        "publisher": "Microsoft.Azure.Monitor",
        "type": "AzureMonitorLinuxAgent",
        "typeHandlerVersion": "1.0",
        "autoUpgradeMinorVersion": true,
        "enableAutomaticUpgrade": true
      }
    }
{%- endif %}
{%- if protect %},
    {
      "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems",
      "apiVersion": "2023-04-01",
      "name": "[format('{0}/Azure/iaasvmcontainer;iaasvmcontainerv2;{1};{2}/vm;iaasvmcontainerv2;{1};{2}', parameters('backupVaultName'), resourceGroup().name, variables('vmName'))]",
      "dependsOn": [
        "[resourceId('Microsoft.Compute/virtualMachines', variables('vmName'))]"
      ],
      "properties": {
        "protectedItemType": "Microsoft.Compute/virtualMachines",
        "policyId": "[resourceId('Microsoft.RecoveryServices/vaults/backupPolicies', parameters('backupVaultName'), parameters('backupPolicyName'))]",
        "sourceResourceId": "[resourceId('Microsoft.Compute/virtualMachines', variables('vmName'))]"
      }
    }
{%- endif %}
  ],
  "outputs": {
    "vmId": {
      "type": "string",
      "value": "[resourceId('Microsoft.Compute/virtualMachines', variables('vmName'))]"
    },
    "vmSize": {
      "type": "string",
      "value": {{ vm_size | arm }}
    },
    "privateIp": {
      "type": "string",
      "value": "[reference(resourceId('Microsoft.Network/networkInterfaces', variables('nicName')), '2023-09-01').ipConfigurations[0].properties.privateIPAddress]"
    }
  }
}
