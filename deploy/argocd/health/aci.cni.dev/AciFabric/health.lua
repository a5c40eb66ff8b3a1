-- Argo CD health of an AciFabric (aci.cni.dev/v1alpha1).
-- The operator writes Ready/Progressing/Degraded (operator/reconcile/status.ts),
-- the controller adds ApicConnected. Written for Lua 5.1 (Argo CD's gopher-lua).
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

-- The paused annotation takes effect before the operator reports it, and a
-- paused fabric is not reconciled at all, so nothing below applies to it.
local annotations = obj.metadata.annotations
if (annotations ~= nil and annotations["aci.cni.dev/paused"] == "true") or (ready ~= nil and ready.reason == "Paused") then
  return say("Suspended", ready ~= nil and ready.reason == "Paused" and ready or nil,
    "Reconciliation paused by aci.cni.dev/paused")
end

if obj.metadata.deletionTimestamp ~= nil then
  return say("Progressing", nil, "Removing the ACI CNI from the cluster and its objects from the APIC")
end

if obj.status == nil or ready == nil then
  return say("Progressing", nil, "Waiting for the operator to report status")
end

-- Status written for an older spec says nothing about the current one.
local generation = obj.metadata.generation
if generation ~= nil then
  local observed = obj.status.observedGeneration
  if observed == nil or observed < generation then
    return say("Progressing", nil, "Waiting for the operator to reconcile generation " .. tostring(generation) ..
      " (status describes " .. (observed ~= nil and tostring(observed) or "none") .. ")")
  end
end

-- Another AciFabric is active: this one will never be rolled out.
if ready.reason == "Duplicate" then
  return say("Degraded", ready, "Another AciFabric is active")
end

local degraded = condition("Degraded")
if degraded ~= nil and degraded.status == "True" then
  return say("Degraded", degraded, "Degraded: " .. tostring(degraded.reason))
end

local progressing = condition("Progressing")
if progressing ~= nil and progressing.status == "True" then
  return say("Progressing", progressing, "Rolling out")
end

if ready.status ~= "True" then
  return say("Progressing", ready, "Waiting for the components to become ready")
end

-- Installed; without an APIC session policy and service graphs do not reach the fabric.
local apic = condition("ApicConnected")
if apic ~= nil and apic.status == "False" then
  if apic.reason == "Connecting" then
    return say("Progressing", apic, "Connecting to the APIC")
  end
  return say("Degraded", apic, "APIC unreachable")
end

return say("Healthy", ready, "All components ready")
