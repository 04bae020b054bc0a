variable "name" {
  description = "Name of the deployment. Used as the Lambda function name and as the prefix of every other resource name (IAM roles, instance profile, event rule), and as the value of the managed-by tag on the isolation security groups the Lambda creates."
  type        = string
  default     = "ec2-isolation"
  nullable    = false

  validation {
    # 40 characters leaves room for the longest suffix ("-isolation") within the 64-character IAM role name limit.
    condition     = length(var.name) >= 1 && length(var.name) <= 40 && can(regex("^[a-zA-Z0-9_-]+$", var.name))
    error_message = "The name must be 1 to 40 characters of letters, digits, '_' and '-' (it prefixes IAM role names)."
  }
}

variable "isolation_tag_key" {
  description = "Key of the tag an analyst puts on an EC2 instance to have it isolated. The Lambda writes its status tags as \"<key>:<suffix>\" and marks the security groups it creates with \"<key>:ManagedBy\"."
  type        = string
  default     = "SecurityIsolation"
  nullable    = false

  validation {
    # 128 (EC2 tag key limit) minus 32 characters reserved for ":" plus the longest status tag suffix.
    condition     = length(var.isolation_tag_key) >= 1 && length(var.isolation_tag_key) <= 96
    error_message = "The isolation tag key must be 1 to 96 characters long (the status tags \"<key>:<suffix>\" must fit in 128 characters)."
  }

  validation {
    condition     = !startswith(lower(var.isolation_tag_key), "aws:")
    error_message = "The isolation tag key must not start with \"aws:\" (reserved by AWS)."
  }

  validation {
    condition     = can(regex("^[\\p{L}\\p{N}\\p{Zs}+=._:/@-]+$", var.isolation_tag_key))
    error_message = "The isolation tag key may only contain letters, digits, spaces and + - = . _ : / @ (the EC2 tag character set)."
  }
}

variable "isolation_tag_value" {
  description = "Value of the isolation tag that triggers isolation (compared case-sensitively). Any other value of the tag is ignored."
  type        = string
  default     = "Isolate"
  nullable    = false

  validation {
    condition     = length(var.isolation_tag_value) >= 1 && length(var.isolation_tag_value) <= 256
    error_message = "The isolation tag value must be 1 to 256 characters long."
  }

  validation {
    condition     = can(regex("^[\\p{L}\\p{N}\\p{Zs}+=._:/@-]+$", var.isolation_tag_value))
    error_message = "The isolation tag value may only contain letters, digits, spaces and + - = . _ : / @ (the EC2 tag character set)."
  }
}

variable "release_tag_value" {
  description = "Value of the isolation tag that releases an isolated instance: the Lambda restores exactly the state recorded before the isolation (compared case-sensitively; must differ from isolation_tag_value)."
  type        = string
  default     = "Release"
  nullable    = false

  validation {
    condition     = length(var.release_tag_value) >= 1 && length(var.release_tag_value) <= 256
    error_message = "The release tag value must be 1 to 256 characters long."
  }

  validation {
    condition     = can(regex("^[\\p{L}\\p{N}\\p{Zs}+=._:/@-]+$", var.release_tag_value))
    error_message = "The release tag value may only contain letters, digits, spaces and + - = . _ : / @ (the EC2 tag character set)."
  }
}

variable "release_role_path" {
  description = "IAM path of the roles whose instance profiles a release may re-associate (iam:PassRole to EC2; \"/\" for every role). A narrower path limits what the Lambda can hand to an instance to your workload roles."
  type        = string
  default     = "/"
  nullable    = false

  validation {
    condition     = length(var.release_role_path) <= 512 && can(regex("^/([\\x21-\\x7E]*/)?$", var.release_role_path))
    error_message = "The role path must start and end with \"/\" and contain only printable ASCII characters (at most 512)."
  }
}

variable "dry_run" {
  description = "Dry run: the Lambda logs and records (in the record table, under \"dry-run#<instance id>\") exactly what an isolation or a release would change, asks EC2 (DryRun) whether each change would be allowed where EC2 can, and changes nothing."
  type        = bool
  default     = false
  nullable    = false
}

variable "isolation_security_group_name" {
  description = "Name of the egress- and ingress-free security group the Lambda creates (once per VPC) and moves the isolated instance's network interfaces to. Defaults to \"<name>-isolation\"."
  type        = string
  default     = null

  validation {
    condition = var.isolation_security_group_name == null || (
      can(regex("^[a-zA-Z0-9 ._\\-:/()#,@\\[\\]+=&;{}!$*]{1,255}$", var.isolation_security_group_name)) &&
      !startswith(lower(coalesce(var.isolation_security_group_name, "-")), "sg-")
    )
    error_message = "The security group name must be 1 to 255 characters of a-z A-Z 0-9 spaces and ._-:/()#,@[]+=&;{}!$* and must not start with \"sg-\"."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the Lambda's CloudWatch Logs log group, in days (0 keeps the logs forever)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "The log retention must be one of the values CloudWatch Logs accepts: 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key to encrypt the Lambda's log group with. The key policy must allow the CloudWatch Logs service principal of the region. Null keeps the default CloudWatch Logs encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", var.log_kms_key_arn))
    error_message = "The log KMS key must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias or key id."
  }
}

variable "log_level" {
  description = "Log level of the Lambda handler."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "The log level must be one of DEBUG, INFO, WARNING or ERROR."
  }
}

variable "lambda_timeout" {
  description = "Timeout of the Lambda function, in seconds. It must leave at least 45 s beyond untrack_wait_seconds."
  type        = number
  default     = 120
  nullable    = false

  validation {
    condition     = var.lambda_timeout >= 10 && var.lambda_timeout <= 900 && floor(var.lambda_timeout) == var.lambda_timeout
    error_message = "The Lambda timeout must be a whole number of seconds between 10 and 900."
  }
}

variable "lambda_memory_size" {
  description = "Memory of the Lambda function, in MB."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240 && floor(var.lambda_memory_size) == var.lambda_memory_size
    error_message = "The Lambda memory size must be a whole number of MB between 128 and 10240."
  }
}

variable "lambda_architecture" {
  description = "Instruction set architecture of the Lambda function (the package is pure Python, so both work)."
  type        = string
  default     = "arm64"
  nullable    = false

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "The Lambda architecture must be \"arm64\" or \"x86_64\"."
  }
}

variable "iam_role_path" {
  description = "Path of the two IAM roles and of the instance profile."
  type        = string
  default     = "/"
  nullable    = false

  validation {
    condition     = length(var.iam_role_path) <= 512 && can(regex("^/([\\x21-\\x7E]*/)?$", var.iam_role_path))
    error_message = "The IAM path must start and end with \"/\" and contain only printable ASCII characters (at most 512)."
  }
}

variable "permissions_boundary_arn" {
  description = "ARN of an IAM managed policy to set as the permissions boundary of both IAM roles. Null sets none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$", var.permissions_boundary_arn))
    error_message = "The permissions boundary must be an IAM policy ARN (arn:<partition>:iam::<account>:policy/<name>)."
  }
}

variable "tags" {
  description = "Tags for every taggable resource of the module. The Lambda also puts them on the isolation security groups it creates."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    # 50 tags per EC2 resource, one of which is the managed-by tag on the isolation security groups.
    condition     = length(var.tags) <= 49
    error_message = "At most 49 tags: the isolation security groups also carry the module's managed-by tag (EC2 allows 50)."
  }

  validation {
    condition = alltrue([
      for key, value in var.tags :
      length(key) >= 1 && length(key) <= 128 && length(value) <= 256 && !startswith(lower(key), "aws:")
    ])
    error_message = "Tag keys must be 1 to 128 characters and must not start with \"aws:\"; tag values at most 256 characters."
  }

  validation {
    # The tags also travel to the Lambda in its RESOURCE_TAGS environment variable, and Lambda allows
    # 4 KB of environment variables in all; the other variables take well under 1.5 KB.
    condition     = length(jsonencode(var.tags)) <= 2500
    error_message = "The tags take more than 2500 characters as JSON: the Lambda's environment (4 KB in all) cannot carry them."
  }
}

# ---------------------------------------------------------------------------------------------------
# Containment depth: each step can be switched off; the execution role is granted a step's actions only
# when the step is on.
# ---------------------------------------------------------------------------------------------------

variable "untrack_connections" {
  description = "Before the cut, move every network interface to an all-traffic transition security group (so that tracked connections become untracked and are dropped by the cut) and lower its connection-tracking timeouts to the minimum. Without it, connections established before the isolation can survive it."
  type        = bool
  default     = true
  nullable    = false
}

variable "untrack_wait_seconds" {
  description = "Seconds between the move to the transition group and the cut. A flow becomes untracked when its next packet crosses the transition group: interactive sessions and beacons send packets within seconds. Flows idle for longer stay tracked and then expire within 60 s (the lowered timeout). The other containment steps run during the wait. Keep lambda_timeout at least 45 s above it."
  type        = number
  default     = 15
  nullable    = false

  validation {
    condition     = var.untrack_wait_seconds >= 0 && var.untrack_wait_seconds <= 300 && floor(var.untrack_wait_seconds) == var.untrack_wait_seconds
    error_message = "The untrack wait must be a whole number of seconds between 0 and 300."
  }
}

variable "revoke_credentials" {
  description = "Add to the instance's original IAM role an inline policy that denies every action to role credentials that were delivered to this instance before its isolation (ec2:SourceInstanceARN and aws:TokenIssueTime), so that stolen credentials stop working at once. Needs iam:PutRolePolicy on the roles under credential_revocation_role_path."
  type        = bool
  default     = true
  nullable    = false
}

variable "credential_revocation_role_path" {
  description = "IAM path under which the Lambda may put the revocation policy on instance roles (\"/\" for every role). A narrower path limits the power of iam:PutRolePolicy to the roles of the instances you want covered."
  type        = string
  default     = "/"
  nullable    = false

  validation {
    condition     = length(var.credential_revocation_role_path) <= 512 && can(regex("^/([\\x21-\\x7E]*/)?$", var.credential_revocation_role_path))
    error_message = "The role path must start and end with \"/\" and contain only printable ASCII characters (at most 512)."
  }
}

variable "protect_from_termination" {
  description = "Enable termination protection, set the shutdown behaviour to stop, and keep every EBS volume on termination (DeleteOnTermination = false), so that evidence survives."
  type        = bool
  default     = true
  nullable    = false
}

variable "snapshot_volumes" {
  description = "Snapshot every attached EBS volume in one multi-volume call, tagged with the instance, the event id and the time. The Lambda does not wait for completion."
  type        = bool
  default     = true
  nullable    = false
}

variable "auto_scaling_action" {
  description = "What to do when the instance belongs to an Auto Scaling group, before the network cut (which would make it fail its health checks and be terminated): \"detach\" it, put it in \"standby\", or \"none\"."
  type        = string
  default     = "detach"
  nullable    = false

  validation {
    condition     = contains(["detach", "standby", "none"], var.auto_scaling_action)
    error_message = "The Auto Scaling action must be \"detach\", \"standby\" or \"none\"."
  }
}

variable "auto_scaling_decrement_desired_capacity" {
  description = "Shrink the Auto Scaling group's desired capacity when the instance leaves it. False (the default) keeps the capacity, so the group launches a replacement."
  type        = bool
  default     = false
  nullable    = false
}

variable "deregister_from_target_groups" {
  description = "Deregister the instance (instance targets) and its addresses (IP targets) from every ELBv2 target group of its VPC."
  type        = bool
  default     = true
  nullable    = false
}

variable "disassociate_elastic_ips" {
  description = "Disassociate the instance's Elastic IPs (kept allocated). Off by default: it changes the instance's public address, which responders may still need."
  type        = bool
  default     = false
  nullable    = false
}

variable "record_deletion_protection" {
  description = "Deletion protection of the DynamoDB table of isolation records (the audit trail, and what a release restores from). Turn it off only for throw-away deployments."
  type        = bool
  default     = true
  nullable    = false
}

# ---------------------------------------------------------------------------------------------------
# Evidence (evidence.tf): the snapshots locked against deletion and, in the organization layout, copied
# into this account's custody
# ---------------------------------------------------------------------------------------------------

variable "evidence_lock_mode" {
  description = "Lock every evidence snapshot right after it is taken (EBS snapshot lock, ec2:LockSnapshot), for evidence_lock_duration_days: nobody can delete it meanwhile. \"governance\": a principal allowed ec2:UnlockSnapshot can still unlock it or shorten the lock (this module grants that to nobody). \"compliance\": after the cooling-off period (evidence_lock_cool_off_hours; none, at once) nobody, not even the account's root user, can unlock, delete or shorten it until the lock expires, and its storage is billed for the whole duration: irreversible, try governance first. Null: no lock."
  type        = string
  default     = "governance"
  nullable    = true

  validation {
    condition     = contains(["governance", "compliance"], coalesce(var.evidence_lock_mode, "governance"))
    error_message = "The evidence lock mode must be \"governance\", \"compliance\" or null (no lock)."
  }
}

variable "evidence_lock_duration_days" {
  description = "How long each evidence snapshot (and its copy in custody) stays locked, in days (1 to 36500). The snapshots are billed at least that long: in compliance mode, nobody can delete them before."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.evidence_lock_duration_days >= 1 && var.evidence_lock_duration_days <= 36500 && floor(var.evidence_lock_duration_days) == var.evidence_lock_duration_days
    error_message = "The evidence lock duration must be a whole number of days between 1 and 36500."
  }
}

variable "evidence_lock_cool_off_hours" {
  description = "Cooling-off period of a compliance-mode lock, in hours (1 to 72): a principal allowed ec2:UnlockSnapshot can still unlock it or shorten it meanwhile, to correct a mistake; then the lock is irreversible. Only with evidence_lock_mode = \"compliance\". Null: none (irreversible at once)."
  type        = number
  default     = null
  nullable    = true

  validation {
    condition = var.evidence_lock_cool_off_hours == null || (
      coalesce(var.evidence_lock_cool_off_hours, 1) >= 1 &&
      coalesce(var.evidence_lock_cool_off_hours, 1) <= 72 &&
      floor(coalesce(var.evidence_lock_cool_off_hours, 1)) == coalesce(var.evidence_lock_cool_off_hours, 1)
    )
    error_message = "The cooling-off period must be a whole number of hours between 1 and 72, or null for none."
  }
}

variable "evidence_custody" {
  description = "Take the evidence of member accounts' instances into this account's custody: the reconciler's rounds copy each completed evidence snapshot in the member account re-encrypted with the member's evidence key (an intermediate copy; none for an unencrypted snapshot or one already under that key), share it with this account only, copy it here encrypted with this account's evidence key (alias/<name>-evidence, created), lock that copy like the evidence (evidence_lock_mode), then delete the intermediate copy and remove the share. Needs member_account_ids or organization_id, snapshot_volumes, a reconcile schedule (the rounds carry custody forward), and modules/member with evidence_custody = true in every member account and region. The copies in custody are billed here, for at least the lock duration."
  type        = bool
  default     = false
  nullable    = false
}

# ---------------------------------------------------------------------------------------------------
# Notifications (an SNS topic, for people) and result events (the default EventBridge bus, for automation)
# ---------------------------------------------------------------------------------------------------

variable "create_sns_topic" {
  description = "Create an SNS topic (named after name, encrypted) that receives a readable summary of each isolation, release and failure; subscribe to it yourself (e-mail, chat, a queue). Not together with sns_topic_arn."
  type        = bool
  default     = false
  nullable    = false
}

variable "sns_topic_arn" {
  description = "ARN of an existing standard SNS topic to send the summaries to (the Lambda may publish to it, and to no other topic). Null, without create_sns_topic, sends no summary."
  type        = string
  default     = null

  validation {
    # FIFO topics (".fifo") need a message group id on every publish: not supported.
    condition     = var.sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.sns_topic_arn))
    error_message = "The SNS topic must be the ARN of a standard (not FIFO) topic: arn:<partition>:sns:<region>:<account>:<name>."
  }
}

variable "sns_kms_master_key_id" {
  description = "KMS key that encrypts the topic the module creates (create_sns_topic): an alias, key id or ARN. The default is SNS's AWS managed key. A customer managed key must let the Lambda's role use it: through its key policy, or give its ARN in sns_topic_kms_key_arn."
  type        = string
  default     = "alias/aws/sns"
  nullable    = false

  validation {
    condition     = can(regex("^(alias/[a-zA-Z0-9/_-]+|(mrk-)?[0-9a-f-]{32,36}|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[a-zA-Z0-9/_-]+)$", var.sns_kms_master_key_id))
    error_message = "The SNS topic's KMS key must be an alias (alias/<name>), a key id, or a key or alias ARN."
  }
}

variable "sns_topic_kms_key_arn" {
  description = "ARN of the customer managed KMS key that encrypts the summaries' topic (an existing topic's, or the one given in sns_kms_master_key_id): the Lambda's role is granted kms:GenerateDataKey and kms:Decrypt on it, through SNS only. Null grants none: the AWS managed key needs none. Ignored without a topic."
  type        = string
  default     = null

  validation {
    condition     = var.sns_topic_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", var.sns_topic_kms_key_arn))
    error_message = "The topic's KMS key must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias or key id."
  }
}

variable "result_events" {
  description = "Put a result event on the account's default EventBridge bus after each isolation, release and failure (detail-types \"EC2 Isolation Completed\", \"EC2 Isolation Failed\", \"EC2 Isolation Released\", \"EC2 Isolation Dry Run\") and each repair or report of the reconciler (\"EC2 Isolation Caught Up\", \"EC2 Isolation Drift Repaired\", \"EC2 Isolation Needs Attention\", \"EC2 Isolation Group Resealed\", \"EC2 Isolation Record Closed\"), for other automation to chain on."
  type        = bool
  default     = true
  nullable    = false
}

variable "result_event_source" {
  description = "The source of the result events (what a rule matches them on). The Lambda may put events of this source, and of no other, on the default bus."
  type        = string
  default     = "ec2-isolation"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]{1,256}$", var.result_event_source))
    error_message = "The result event source must be 1 to 256 characters of letters, digits and . _ / -."
  }

  validation {
    condition     = !startswith(lower(var.result_event_source), "aws.")
    error_message = "The result event source must not start with \"aws.\" (reserved for AWS services)."
  }
}

# ---------------------------------------------------------------------------------------------------
# Failure path (failure.tf): retries, the dead-letter queue, alarms, and the function's concurrency
# ---------------------------------------------------------------------------------------------------

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for the function: it can always run that many isolations at once, however busy the account's other functions are, and never more (which bounds its EC2 and IAM API call rate). The default, 30, is what EC2's API rate limit for ModifyNetworkInterfaceAttribute sustains (see docs/failure-handling.md, Benchmark): more would only be throttled by EC2. Events beyond it are throttled, kept and retried by Lambda (lambda_maximum_event_age_in_seconds). AWS keeps 100 of the account's concurrency unreserved: null reserves none, for accounts with a low concurrency quota."
  type        = number
  default     = 30
  nullable    = true

  validation {
    # 0 would stop every isolation.
    condition     = var.reserved_concurrent_executions == null || try(var.reserved_concurrent_executions >= 1 && var.reserved_concurrent_executions <= 1000 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions, false)
    error_message = "The reserved concurrency must be null (none reserved) or a whole number between 1 and 1000 (0 would stop the function)."
  }
}

variable "lambda_maximum_retry_attempts" {
  description = "How many times Lambda retries a failed invocation (a failed step, a timeout) before it sends it to the dead-letter queue. Every step is idempotent, so a retry completes what is missing."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = contains([0, 1, 2], var.lambda_maximum_retry_attempts)
    error_message = "Lambda retries an asynchronous invocation 0, 1 or 2 times."
  }
}

variable "lambda_maximum_event_age_in_seconds" {
  description = "How long Lambda keeps an event it could not run yet (throttled) or is retrying, in seconds, before it sends it to the dead-letter queue. An isolation that has not happened after an hour needs a person: the dead-letter alarm calls one."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.lambda_maximum_event_age_in_seconds >= 60 && var.lambda_maximum_event_age_in_seconds <= 21600 && floor(var.lambda_maximum_event_age_in_seconds) == var.lambda_maximum_event_age_in_seconds
    error_message = "The maximum event age must be a whole number of seconds between 60 and 21600 (6 hours)."
  }
}

variable "event_target_maximum_retry_attempts" {
  description = "How many times EventBridge retries delivering an isolation tag event that the Lambda service refused (function missing, permission missing, service error) before it sends the event to the dead-letter queue."
  type        = number
  default     = 185
  nullable    = false

  validation {
    condition     = var.event_target_maximum_retry_attempts >= 0 && var.event_target_maximum_retry_attempts <= 185 && floor(var.event_target_maximum_retry_attempts) == var.event_target_maximum_retry_attempts
    error_message = "EventBridge retries a target 0 to 185 times."
  }
}

variable "event_target_maximum_event_age_in_seconds" {
  description = "How long EventBridge keeps retrying the delivery of an isolation tag event to the function, in seconds, before it sends the event to the dead-letter queue."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.event_target_maximum_event_age_in_seconds >= 60 && var.event_target_maximum_event_age_in_seconds <= 86400 && floor(var.event_target_maximum_event_age_in_seconds) == var.event_target_maximum_event_age_in_seconds
    error_message = "The EventBridge maximum event age must be a whole number of seconds between 60 and 86400 (24 hours)."
  }
}

variable "dead_letter_queue_kms_key_arn" {
  description = "ARN of a customer managed KMS key to encrypt the dead-letter queue with: the function's role is granted kms:GenerateDataKey and kms:Decrypt on it, through SQS only, and the key policy must let events.amazonaws.com use it (kms:GenerateDataKey, kms:Decrypt) for EventBridge's undelivered events. Null encrypts the queue with SQS managed keys (SSE-SQS)."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_queue_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", var.dead_letter_queue_kms_key_arn))
    error_message = "The dead-letter queue's KMS key must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias or key id."
  }
}

variable "alarms_enabled" {
  description = "Create the CloudWatch alarms of the failure path: function errors, throttles, failed deliveries to the dead-letter queue, and messages in the dead-letter queue. They notify the summaries' topic (when there is one) and alarm_actions."
  type        = bool
  default     = true
  nullable    = false
}

variable "alarm_actions" {
  description = "ARNs to notify when an alarm of the failure path changes state (ALARM and OK), in addition to the summaries' topic: SNS topics of an on-call system, for example. A topic encrypted with a KMS key must let cloudwatch.amazonaws.com use the key."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.alarm_actions) <= 4 && alltrue([for arn in var.alarm_actions : can(regex("^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:.+$", arn))])
    error_message = "alarm_actions must be at most 4 ARNs (CloudWatch allows 5 actions per state; one is the summaries' topic)."
  }
}

variable "guardduty_trigger_enabled" {
  description = "Also isolate the EC2 instance of a GuardDuty finding (an EventBridge rule on \"GuardDuty Finding\" events about an Instance, at or above guardduty_minimum_severity, of one of guardduty_finding_types). In a GuardDuty administrator account, the findings of the member accounts this deployment serves (member_account_ids, organization_id) too, through their executor role. A finding only ever isolates; a release is always the analyst's tag."
  type        = bool
  default     = false
  nullable    = false
}

variable "guardduty_minimum_severity" {
  description = "The lowest GuardDuty severity that isolates (1.0 to 10.0; GuardDuty: Low 1.0-3.9, Medium 4.0-6.9, High 7.0-8.9, Critical 9.0-10.0). Matched by the rule (numeric matching) and re-checked by the function."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.guardduty_minimum_severity >= 1 && var.guardduty_minimum_severity <= 10
    error_message = "The GuardDuty minimum severity must be between 1.0 and 10.0 (GuardDuty's severity range)."
  }
}

variable "guardduty_finding_types" {
  description = "The GuardDuty finding types that isolate, exactly as GuardDuty names them (e.g. \"UnauthorizedAccess:EC2/SSHBruteForce\", \"Backdoor:EC2/C&CActivity.B!DNS\"). Empty: any finding type about an instance."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for type in var.guardduty_finding_types : can(regex("^[A-Za-z0-9]+:[A-Za-z0-9]+/[!-~]+$", type)) && length(type) <= 128])
    error_message = "Each GuardDuty finding type must look like ThreatPurpose:ResourceTypeAffected/ThreatFamilyName (e.g. \"UnauthorizedAccess:EC2/SSHBruteForce\"), at most 128 characters."
  }
}

variable "security_hub_action_enabled" {
  description = "Create a Security Hub custom action (Security Hub must be enabled) and a rule on it: the EC2 instances of the findings an analyst sends to the action are isolated (in a Security Hub administrator account, those of the served member accounts too), their other resources reported as skipped. The action only ever isolates."
  type        = bool
  default     = false
  nullable    = false
}

variable "security_hub_action_name" {
  description = "Name of the Security Hub custom action, as analysts see it in the console (at most 20 characters)."
  type        = string
  default     = "Isolate instance"
  nullable    = false

  validation {
    condition     = length(var.security_hub_action_name) >= 1 && length(var.security_hub_action_name) <= 20
    error_message = "The Security Hub custom action name must be 1 to 20 characters."
  }
}

variable "security_hub_action_identifier" {
  description = "Identifier of the Security Hub custom action (the last part of its ARN; unique in the account and region)."
  type        = string
  default     = "IsolateInstance"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9]{1,20}$", var.security_hub_action_identifier))
    error_message = "The Security Hub custom action identifier must be 1 to 20 letters and digits."
  }
}

variable "security_hub_action_description" {
  description = "Description of the Security Hub custom action."
  type        = string
  default     = "Isolate the EC2 instances of the selected findings (network, credentials, snapshots) with the EC2 isolation function."
  nullable    = false

  validation {
    condition     = length(var.security_hub_action_description) >= 1
    error_message = "The Security Hub custom action needs a description."
  }
}

# ---------------------------------------------------------------------------------------------------
# Permission model (analyst.tf): the analyst policies and the SCP that protects the isolation tag key
# ---------------------------------------------------------------------------------------------------

variable "tag_administrator_arns" {
  description = "IAM principal ARNs or ARN patterns (roles or users, * and ? allowed: aws:PrincipalArn with ArnNotLike) of the analysts and responder roles that the isolation_tag_protection_scp_json output lets set or remove the isolation tag key and its status tags (\"<key>:*\"), besides the Lambda's role. Their own IAM policy (analyst_isolate_policy_json, analyst_release_policy_json) still limits what they may set. Empty: only the Lambda."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition = alltrue([
      for arn in var.tag_administrator_arns :
      can(regex("^arn:(aws[a-z-]*|\\*):iam::([0-9]{12}|\\*):(role|user)/[\\x21-\\x7E]+$", arn))
    ])
    error_message = "Each tag administrator must be an IAM role or user ARN or ARN pattern (arn:<partition>:iam::<account>:role/<path><name>, * and ? allowed)."
  }

  validation {
    # The SCP lists them twice and must fit in 5120 characters (AWS Organizations' limit).
    condition     = length(jsonencode(var.tag_administrator_arns)) <= 1500
    error_message = "The tag administrator ARNs take more than 1500 characters as JSON: the SCP that lists them must fit in 5120 characters (use ARN patterns)."
  }
}

# ---------------------------------------------------------------------------------------------------
# Organization layout (organization.tf, modules/member): member accounts forward their tag events to
# this account's default bus, and the function assumes their executor role. Nothing is created while
# neither member_account_ids nor organization_id is set.
# ---------------------------------------------------------------------------------------------------

variable "member_account_ids" {
  description = "IDs of the member accounts whose isolation tag events this deployment accepts on its default event bus and whose executor role the function may assume (modules/member). Empty, with organization_id null, keeps the deployment single-account. With organization_id too, an account must be listed and in the organization."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.member_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "Each member account ID must be 12 digits."
  }
}

variable "organization_id" {
  description = "ID of the AWS Organization (o-...) whose member accounts may forward isolation tag events to this deployment's default event bus (aws:PrincipalOrgID) and whose executor roles the function may assume (aws:ResourceOrgID). Null: only member_account_ids."
  type        = string
  default     = null

  validation {
    condition     = var.organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "The organization ID must look like o-abcd123456 (\"o-\" and 10 to 32 lowercase letters or digits)."
  }
}

variable "executor_role_name" {
  description = "Name of the executor role modules/member creates in each member account, which the function assumes there (under iam_role_path). Defaults to \"<name>-executor\"; must match the member module's."
  type        = string
  default     = null

  validation {
    condition     = var.executor_role_name == null || can(regex("^[\\w+=,.@-]{1,64}$", var.executor_role_name))
    error_message = "The executor role name must be 1 to 64 characters of letters, digits and + = , . @ _ -."
  }
}

variable "executor_external_id" {
  description = "External ID the function passes when it assumes a member account's executor role (sts:ExternalId in the role's trust policy, modules/member external_id). Null passes none."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.executor_external_id == null || (length(coalesce(var.executor_external_id, "-")) <= 1224 && can(regex("^[\\w+=,.@:/-]{2,}$", var.executor_external_id)))
    error_message = "The external ID must be 2 to 1224 characters of letters, digits and + = , . @ : / _ -."
  }
}

# ---------------------------------------------------------------------------------------------------
# Reconciler (reconcile.tf): every tagged instance is kept in the state its tag asks for, on schedules
# and on the API calls that could undo an isolation.
# ---------------------------------------------------------------------------------------------------

variable "reconcile_schedule" {
  description = "Schedule of the reconciler's sweep (an EventBridge rate(...) or cron(...) expression): the function finds the tagged instances that are not (or no longer) in the state their tag asks for, in every swept account and region (reconcile_account_ids, reconcile_regions), and converges them. Null: no sweep."
  type        = string
  default     = "rate(5 minutes)"
  nullable    = true

  validation {
    # rate(1 minute) is singular, rate(5 minutes) plural (EventBridge refuses the others); cron() has
    # six fields.
    condition = var.reconcile_schedule == null || can(regex(
      "^(rate\\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\\)|cron\\(\\S+( \\S+){5}\\))$",
      coalesce(var.reconcile_schedule, "-"),
    ))
    error_message = "The reconcile schedule must be an EventBridge schedule expression: rate(1 minute), rate(5 minutes), rate(2 hours), rate(1 day)... or cron() with six fields, e.g. cron(0/5 * * * ? *); or null for none."
  }
}

variable "reconcile_full_schedule" {
  description = "Schedule of the reconciler's full sweep (rate(...) or cron(...)): as the sweep, and besides it re-checks every isolated instance in full (its groups' rules, its profile) and closes the records of terminated instances. Null: no full sweep."
  type        = string
  default     = "rate(1 day)"
  nullable    = true

  validation {
    condition = var.reconcile_full_schedule == null || can(regex(
      "^(rate\\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\\)|cron\\(\\S+( \\S+){5}\\))$",
      coalesce(var.reconcile_full_schedule, "-"),
    ))
    error_message = "The full reconcile schedule must be an EventBridge schedule expression: rate(1 minute), rate(5 minutes), rate(2 hours), rate(1 day)... or cron() with six fields, e.g. cron(0 3 * * ? *); or null for none."
  }
}

variable "reconcile_maximum_concurrency" {
  description = "How many reconciler invocations (one account and region, or one instance, each) may run at once: the maximum concurrency of the reconcile queue's event source mapping. A catch-up of lost isolations runs that many at a time (each waits untrack_wait_seconds): 10 catch up 200 in about five minutes and leave two thirds of the default reserved concurrency (30) to the isolations. Keep it below reserved_concurrent_executions, so that sweeps never take the concurrency isolations need."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.reconcile_maximum_concurrency >= 2 && var.reconcile_maximum_concurrency <= 1000 && floor(var.reconcile_maximum_concurrency) == var.reconcile_maximum_concurrency
    error_message = "The reconciler's maximum concurrency must be a whole number between 2 and 1000 (what an SQS event source mapping accepts)."
  }
}

variable "reconcile_on_api_calls" {
  description = "Reconcile an instance as soon as CloudTrail records a successful API call that can undo part of its isolation (its ENIs' security groups, its instance profile, an isolation group's rules, an Auto Scaling group or target group taking it back), made by anyone but the function. Needs a CloudTrail trail with management events in each account and region served; member accounts forward these events too (modules/member forward_api_calls)."
  type        = bool
  default     = true
  nullable    = false
}

variable "reconcile_regions" {
  description = "Regions the sweeps cover in each swept member account (reconcile_account_ids; the regions of their modules/member deployments). This account is swept in the module's region, where the function's grants are. Null: the module's region."
  type        = list(string)
  default     = null
  nullable    = true

  validation {
    condition = var.reconcile_regions == null || (
      length(coalesce(var.reconcile_regions, ["-"])) > 0 &&
      alltrue([for region in coalesce(var.reconcile_regions, []) : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", region))]) &&
      length(distinct(coalesce(var.reconcile_regions, []))) == length(coalesce(var.reconcile_regions, []))
    )
    error_message = "reconcile_regions must be a non-empty list of distinct region names such as eu-west-1 (or null for the module's region)."
  }
}

variable "reconcile_account_ids" {
  description = "The member accounts the sweeps cover besides this one (through their executor role): each must be one this deployment serves (member_account_ids, or with only organization_id an account of the organization). Null: member_account_ids. Empty: this account only."
  type        = list(string)
  default     = null
  nullable    = true

  validation {
    condition = var.reconcile_account_ids == null || (
      alltrue([for id in coalesce(var.reconcile_account_ids, []) : can(regex("^[0-9]{12}$", id))]) &&
      length(distinct(coalesce(var.reconcile_account_ids, []))) == length(coalesce(var.reconcile_account_ids, []))
    )
    error_message = "reconcile_account_ids must be distinct 12-digit account IDs (or null for member_account_ids)."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the function's metrics (DriftRepaired, CaughtUp, Refused, GroupsResealed, RecordsClosed, SweepFailed; dimension FunctionName), written as Embedded Metric Format log lines: no API call, no permission."
  type        = string
  default     = "EC2Isolation"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9 ._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "The metrics namespace must be 1 to 255 letters, digits, spaces and . _ / # : - and must not start with \"AWS/\" (reserved)."
  }
}
