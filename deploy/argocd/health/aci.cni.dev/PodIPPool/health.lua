-- Argo CD health of a PodIPPool (aci.cni.dev/v1alpha1): the controller writes
-- spec, the host agent of the node (same name) writes status
-- (agents/host/kube/pool-status.ts). Written for Lua 5.1 (Argo CD's gopher-lua).
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

local node = tostring(obj.metadata.name)

if obj.status == nil then
  return say("Progressing", nil, "Waiting for the host agent on node " .. node .. " to report status")
end

-- Chunks added or removed by the controller count only once the host agent has seen them.
local generation = obj.metadata.generation
if generation ~= nil then
  local observed = obj.status.observedGeneration
  if observed == nil or observed < generation then
    return say("Progressing", nil, "Waiting for the host agent on node " .. node .. " to observe generation " ..
      tostring(generation) .. " (status describes " .. (observed ~= nil and tostring(observed) or "none") .. ")")
  end
end

local degraded = condition("Degraded")
if degraded ~= nil and degraded.status == "True" then
  return say("Degraded", degraded, "Degraded: " .. tostring(degraded.reason))
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "False" then
  -- A node without chunks waits for the controller to assign one; that is not a failure yet.
  if ready.reason == "NoChunksAssigned" then
    return say("Progressing", ready, "Waiting for the controller to assign a pod address chunk")
  end
  return say("Degraded", ready, "Not ready: " .. tostring(ready.reason))
end

if ready ~= nil then
  return say("Healthy", ready, "Ready")
end
if obj.status.used ~= nil and obj.status.capacity ~= nil then
  return say("Healthy", nil, tostring(obj.status.used) .. " of " .. tostring(obj.status.capacity) .. " addresses in use")
end
return say("Healthy", nil, "Observed by the host agent")
