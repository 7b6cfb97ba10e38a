//! The stack a command operates on, found by name: every queue, table and
//! function comes from its CloudFormation outputs, never a hand-copied ARN.

use std::collections::BTreeMap;

pub struct Stack {
    pub name: String,
    outputs: BTreeMap<String, String>,
    parameters: BTreeMap<String, String>,
    pub aws: aws_config::SdkConfig,
}

impl Stack {
    pub async fn find(name: &str) -> Result<Stack, String> {
        let aws = tally_aws::config::load().await;
        let cfn = aws_sdk_cloudformation::Client::new(&aws);
        let described = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read stack {name:?}: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(e)
                )
            })?;
        let stack = described
            .stacks()
            .first()
            .ok_or_else(|| format!("no stack named {name:?}"))?;
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect();
        let parameters = stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.parameter_value()?.to_string(),
                ))
            })
            .collect();
        Ok(Stack {
            name: name.to_string(),
            outputs,
            parameters,
            aws,
        })
    }

    /// The deployment's configuration document (its `TallyConfig` parameter), validated.
    pub fn config(&self) -> Result<tally_core::config::TallyConfig, String> {
        tally_core::config::TallyConfig::from_json(
            self.parameters
                .get("TallyConfig")
                .map_or("", String::as_str),
        )
        .map_err(|e| format!("stack {}: {e}", self.name))
    }

    /// A secret's JSON, by the output naming its ARN.
    pub async fn secret(&self, output: &str) -> Result<serde_json::Value, String> {
        let arn = self.output(output)?;
        let out = aws_sdk_secretsmanager::Client::new(&self.aws)
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| crate::aws_error(output, e))?;
        serde_json::from_str(out.secret_string().unwrap_or("{}"))
            .map_err(|_| format!("{output} is not JSON"))
    }

    pub async fn put_secret(&self, output: &str, value: &serde_json::Value) -> Result<(), String> {
        let arn = self.output(output)?;
        aws_sdk_secretsmanager::Client::new(&self.aws)
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value.to_string())
            .send()
            .await
            .map_err(|e| crate::aws_error(output, e))?;
        Ok(())
    }

    /// An output's value, or an error naming it.
    pub fn output(&self, key: &str) -> Result<&str, String> {
        self.outputs
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("stack {} has no output {key}", self.name))
    }

    /// Invokes the function an output names with a JSON payload; its JSON answer.
    pub async fn invoke(
        &self,
        output: &str,
        payload: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let function = self.output(output)?;
        let out = aws_sdk_lambda::Client::new(&self.aws)
            .invoke()
            .function_name(function)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| crate::aws_error(function, e))?;
        let body: serde_json::Value = out
            .payload()
            .map(|b| serde_json::from_slice(b.as_ref()).unwrap_or(serde_json::Value::Null))
            .unwrap_or(serde_json::Value::Null);
        match out.function_error() {
            Some(_) => Err(format!("{function} failed: {body}")),
            None => Ok(body),
        }
    }

    /// The queue and DLQ URLs of a flow (`payments`, `payouts`).
    pub fn flow_queues(&self, flow: &str) -> Result<(String, String), String> {
        let title = match flow {
            "payments" => "Payments",
            "payouts" => "Payouts",
            other => return Err(format!("no flow {other:?} (payments, payouts)")),
        };
        Ok((
            self.output(&format!("{title}QueueUrl"))?.to_string(),
            self.output(&format!("{title}DeadLetterQueueUrl"))?
                .to_string(),
        ))
    }
}
