-- Argo CD health check for agreement.dev/AgreementMetric (kstatus conditions):
-- Ready -> Healthy, Stalled -> Degraded, anything else -> Progressing.
local hs = { status = "Progressing", message = "Waiting for agreement-operator" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.status.observedGeneration == nil or obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for agreement-operator to observe generation " .. tostring(obj.metadata.generation)
  return hs
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Stalled" and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = condition.reason .. ": " .. (condition.message or "")
    return hs
  end
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" and condition.status == "True" then
    hs.status = "Healthy"
    hs.message = condition.message or ""
    return hs
  end
  if condition.type == "Reconciling" and condition.status == "True" then
    hs.message = condition.reason .. ": " .. (condition.message or "")
  end
end
return hs
