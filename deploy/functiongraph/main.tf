# restorepoint as a FunctionGraph event function (custom runtime) on Open
# Telekom Cloud: CTS tag operations on ECS servers, a nightly timer and a
# follow timer invoke it directly, no API gateway. Build the package first:
#
#   make functiongraph-zip   # dist/restorepoint-functiongraph.zip
#
# Resource and argument names follow the opentelekomcloud provider's
# documentation (opentelekomcloud_fgs_function_v2, opentelekomcloud_fgs_trigger_v2,
# opentelekomcloud_identity_role_v3, opentelekomcloud_identity_agency_v3).
# No test applies this file; a test parses it and checks the variables the
# function is given.

terraform {
  required_providers {
    opentelekomcloud = {
      source  = "opentelekomcloud/opentelekomcloud"
      version = ">= 1.36.0"
    }
  }
}

variable "project_name" {
  description = "Project (region) the function and the vaults live in, e.g. eu-de"
  type        = string
  default     = "eu-de"
}

variable "default_vault_id" {
  description = "CBR vault that tagged servers are backed up to, unless their tags name another"
  type        = string
}

variable "allowed_vaults" {
  description = "Comma-separated vault IDs the function may back up to (CBR_ALLOWED_VAULTS)"
  type        = string
  default     = ""
}

variable "nightly_resources" {
  description = "Server IDs the nightly timer backs up"
  type        = list(string)
  default     = []
}

variable "follow_every" {
  description = "How often a follow pass reports the restore points that ended (a FunctionGraph Rate: 1m to 60m, 1h to 24h)"
  type        = string
  default     = "5m"
}

variable "follow_lookback" {
  description = "How far back a follow pass also looks in CBR for restore points that ended before any instance read them (FOLLOW_LOOKBACK): at least follow_every, at most 1h; 0 turns it off. Without a shared store an end may be reported more than once, under the same id"
  type        = string
  default     = "15m"
}

variable "result_sink" {
  description = "URL every result event, completions included, is POSTed to (RESULT_SINK); empty for none"
  type        = string
  default     = ""
}

variable "package" {
  description = "The package built by make functiongraph-zip"
  type        = string
  default     = "../../dist/restorepoint-functiongraph.zip"
}

# The agency the function runs with: FunctionGraph (op_svc_cff) may create
# restore points and list backups, nothing else.
resource "opentelekomcloud_identity_role_v3" "restorepoint" {
  display_name  = "restorepoint-cbr-backup"
  description   = "Create CBR restore points and find them again"
  display_layer = "project"

  statement {
    effect = "Allow"
    action = ["cbr:vaults:backup", "cbr:backups:list"]
  }
}

resource "opentelekomcloud_identity_agency_v3" "restorepoint" {
  name                  = "restorepoint"
  description           = "Execution agency of the restorepoint function"
  delegated_domain_name = "op_svc_cff"

  project_role {
    project = var.project_name
    roles   = [opentelekomcloud_identity_role_v3.restorepoint.display_name]
  }
}

resource "opentelekomcloud_fgs_function_v2" "restorepoint" {
  name          = "restorepoint"
  app           = "default"
  description   = "Event-driven CBR restore points (github.com/restorepoint/restorepoint)"
  runtime       = "Custom"
  handler       = "bootstrap"
  memory_size   = 128
  timeout       = 60
  code_type     = "zip"
  code_filename = "restorepoint-functiongraph.zip"
  func_code     = filebase64(var.package)
  agency        = opentelekomcloud_identity_agency_v3.restorepoint.name
  app_agency    = opentelekomcloud_identity_agency_v3.restorepoint.name

  # The function's environment variables. RUNTIME_API_ADDR, RUNTIME_TIMEOUT
  # and RUNTIME_PROJECT_ID are set by FunctionGraph itself.
  user_data = jsonencode({
    FUNCTIONGRAPH_MODE   = "event"
    CBR_AUTH             = "functiongraph"
    CBR_REGION           = var.project_name
    CBR_DEFAULT_VAULT_ID = var.default_vault_id
    CBR_ALLOWED_VAULTS   = var.allowed_vaults
    RESULT_SINK          = var.result_sink
    FOLLOW_LOOKBACK      = var.follow_lookback
    LOG_LEVEL            = "info"
  })
}

# Every tag created on an ECS server invokes the function; servers tagged
# backup=<anything but off/false/no/none/disabled> get a restore point.
resource "opentelekomcloud_fgs_trigger_v2" "server_tagged" {
  function_urn = opentelekomcloud_fgs_function_v2.restorepoint.urn
  type         = "CTS"
  event_data = jsonencode({
    name       = "restorepoint_ecs_tags"
    operations = ["ECS:ecs:batchCreateServerTags", "ECS:ecs:createResourceTag"]
  })
}

# A nightly restore point of the listed servers: user_event holds a
# checkpoint.requested body; each tick is its own trigger (trigger name + time).
resource "opentelekomcloud_fgs_trigger_v2" "nightly" {
  function_urn = opentelekomcloud_fgs_function_v2.restorepoint.urn
  type         = "TIMER"
  event_data = jsonencode({
    name          = "restorepoint_nightly"
    schedule_type = "Cron"
    schedule      = "0 0 2 * * ?"
    user_event = jsonencode({
      vault_id = var.default_vault_id
      parameters = {
        description = "nightly restore point (restorepoint timer)"
        resources   = var.nightly_resources
      }
    })
  })
}

# A follow pass at every tick: each restore point the function made is
# followed to its end and reported (io.restorepoint.checkpoint.available or
# .failed) to RESULT_SINK. An event function runs only while invoked, so
# this timer is what follows through. user_event is a structured CloudEvent
# of type io.restorepoint.follow; its id and source are replaced by the
# tick's (functiongraph/timer/<name>, the tick's time).
resource "opentelekomcloud_fgs_trigger_v2" "follow" {
  function_urn = opentelekomcloud_fgs_function_v2.restorepoint.urn
  type         = "TIMER"
  event_data = jsonencode({
    name          = "restorepoint_follow"
    schedule_type = "Rate"
    schedule      = var.follow_every
    user_event = jsonencode({
      specversion = "1.0"
      id          = "follow"
      source      = "functiongraph/timer/restorepoint_follow"
      type        = "io.restorepoint.follow"
    })
  })
}

output "function_urn" {
  value = opentelekomcloud_fgs_function_v2.restorepoint.urn
}
