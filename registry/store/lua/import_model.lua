-- Stores a model that was not trained here (an import) as the next version of its name,
-- and announces it. Returns the model's version.
-- KEYS: model, models, name, name_seq, owned_models, tenant_bytes
-- ARGV: model_id, meta, blob, created_ms, changes, tenant
return store_model(keys, args)
