-- Argo CD health of an EndpointGroupMapping (aci.cni.dev/v1alpha1): the
-- controller writes status with Ready and Invalid (the EPG checked on the
-- APIC, agents/controller/policy/epg.ts). Written for Lua 5.1 (Argo CD's gopher-lua).
local hs = {}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function say(status, c, fallback)
  hs.status = status
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    hs.message = c.message
  else
    hs.message = fallback
  end
  return hs
end

local ready = condition("Ready")
if obj.status == nil or ready == nil then
  return say("Progressing", nil, "Waiting for the controller to validate the mapping")
end

local generation = obj.metadata.generation
if generation ~= nil then
  local observed = obj.status.observedGeneration
  if observed == nil or observed < generation then
    return say("Progressing", nil, "Waiting for the controller to validate generation " .. tostring(generation) ..
      " (status describes " .. (observed ~= nil and tostring(observed) or "none") .. ")")
  end
end

-- Invalid=True: the EPG or a security group does not exist; the pods stay in
-- their previous EPG until the spec or the APIC changes.
local invalid = condition("Invalid")
if invalid ~= nil and invalid.status == "True" then
  return say("Degraded", invalid, "Invalid: " .. tostring(invalid.reason))
end

local degraded = condition("Degraded")
if degraded ~= nil and degraded.status == "True" then
  return say("Degraded", degraded, "Degraded: " .. tostring(degraded.reason))
end

local progressing = condition("Progressing")
if progressing ~= nil and progressing.status == "True" then
  return say("Progressing", progressing, "Applying the mapping")
end

if ready.status == "True" then
  return say("Healthy", ready, "Ready")
end
if ready.status == "False" then
  return say("Degraded", ready, "Not ready: " .. tostring(ready.reason))
end
-- Unknown: the controller could not check the EPG (APIC unreachable); it retries.
return say("Progressing", ready, "Waiting for the controller to check the EPG on the APIC")
