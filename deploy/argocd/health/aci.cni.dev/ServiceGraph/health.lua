-- Argo CD health of a ServiceGraph (aci.cni.dev/v1alpha1): the controller
-- writes spec and status (agents/controller/loadbalancer/reconciler.ts).
-- Written for Lua 5.1 (Argo CD's gopher-lua).
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
  return say("Progressing", nil, "Waiting for the controller to program the service graph")
end

local generation = obj.metadata.generation
if generation ~= nil then
  local observed = obj.status.observedGeneration
  if observed == nil or observed < generation then
    return say("Progressing", nil, "Waiting for the controller to sync generation " .. tostring(generation) ..
      " (status describes " .. (observed ~= nil and tostring(observed) or "none") .. ")")
  end
end

local degraded = condition("Degraded")
if degraded ~= nil and degraded.status == "True" then
  return say("Degraded", degraded, "Degraded: " .. tostring(degraded.reason))
end

local progressing = condition("Progressing")
if progressing ~= nil and progressing.status == "True" then
  return say("Progressing", progressing, "Syncing the service graph")
end

if ready.status == "True" then
  return say("Healthy", ready, "Ready")
end
-- The APIC has not confirmed the objects yet: in flight, not failed.
if ready.status == "Unknown" or ready.reason == "ApicSyncPending" then
  return say("Progressing", ready, "Waiting for the APIC")
end
-- e.g. NoReadyEndpoints: the external IP leads nowhere.
return say("Degraded", ready, "Not ready: " .. tostring(ready.reason))
