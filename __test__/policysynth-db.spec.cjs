// A database created by PolicySynth's migration (the DDL Sequelize's createTable/addIndex
// emit for it), holding rows the original wrote, including NULL timestamps, a NULL is_active
// and partial usage JSON, is used as it is: served, counted, and its table left with the same
// schema. The package's own tables are additive: created beside it, never altering it.
'use strict'
const util = require('node:util')
const { PsPrivateAccessStore: S } = require('..')
const { freshPostgres, generateKeys, original } = require('../tools/harness/index.cjs')

const MIGRATION = `
CREATE TABLE IF NOT EXISTS "ps_private_access_store" ("id"  SERIAL , "group_id" INTEGER NOT NULL, "user_id" INTEGER NOT NULL,
  "ai_model_id" INTEGER, "external_api_id" INTEGER, "configuration" JSONB NOT NULL,
  "usage" JSONB NOT NULL DEFAULT '{"dailyUse":0,"monthlyUse":0,"totalUse":0}', "encrypted_api_key" TEXT NOT NULL,
  "encrypted_aes_key" TEXT NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE, "updated_at" TIMESTAMP WITH TIME ZONE,
  "last_used_at" TIMESTAMP WITH TIME ZONE, "is_active" BOOLEAN DEFAULT true, PRIMARY KEY ("id"));
CREATE INDEX "ps_private_access_store_group_id" ON "ps_private_access_store" ("group_id");
CREATE INDEX "ps_private_access_store_ai_model_id" ON "ps_private_access_store" ("ai_model_id");
CREATE INDEX "ps_private_access_store_external_api_id" ON "ps_private_access_store" ("external_api_id");
CREATE INDEX "ps_private_access_store_user_id" ON "ps_private_access_store" ("user_id");`

const SCHEMA = `
SELECT json_build_object(
  'columns', (SELECT json_agg(json_build_array(column_name, data_type, is_nullable, column_default) ORDER BY ordinal_position)
              FROM information_schema.columns WHERE table_name = 'ps_private_access_store'),
  'indexes', (SELECT json_agg(indexdef ORDER BY indexname) FROM pg_indexes WHERE tablename = 'ps_private_access_store'),
  'tables', (SELECT json_agg(tablename ORDER BY tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')),
  'functions', (SELECT COALESCE(json_agg(p.proname ORDER BY p.proname), '[]'::json) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public')
) AS schema`

const keys = generateKeys()
let db
let schemaBefore
const ids = {}

beforeAll(async () => {
  db = await freshPostgres('policysynth')
  await db.query(MIGRATION)
  const insert = async (name, usage, createdAt, isActive, aiModelId) => {
    const sealed = original.encryptApiKey(`sk-${name}`, keys.publicKey)
    const { rows } = await db.query(
      `INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, external_api_id, configuration, usage,
         encrypted_api_key, encrypted_aes_key, created_at, updated_at, is_active)
       VALUES (42, 5, $1, NULL, $2, $3, $4, $5, $6, $6, $7) RETURNING id`,
      [aiModelId, JSON.stringify({ maxBudget: { perDay: 1000, petMonth: 20000, total: 100000 }, emailNotificationBudgetThresholds: { daily: 0.8, monthly: 0.9 } }),
        usage, sealed.encryptedApiKey, sealed.encryptedAesKey, createdAt, isActive],
    )
    ids[name] = rows[0].id
  }
  await insert('null-timestamps', '{"dailyUse":3,"monthlyUse":3,"totalUse":3}', null, true, 1)
  await insert('partial-usage', '{"totalUse": 7}', new Date('2025-01-02T03:04:05Z'), true, 2)
  await insert('null-active', '{"dailyUse":0,"monthlyUse":0,"totalUse":0}', new Date('2025-01-02T03:04:05Z'), null, 3)
  schemaBefore = (await db.query(SCHEMA)).rows[0].schema
  S.configure({ publicKey: keys.publicKey, privateKey: keys.privateKey, databaseUrl: db.url })
})

afterAll(async () => {
  await S.close()
  await db.drop()
})

describe('getApiKeys', () => {
  test('reads the legacy rows: NULL timestamps as null, partial usage with zeros, NULL is_active as active', async () => {
    const rows = await S.getApiKeys(42)
    expect(rows.map((r) => r.id)).toEqual([ids['null-timestamps'], ids['partial-usage'], ids['null-active']])
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]))
    expect(byId[ids['null-timestamps']].created_at).toBeNull()
    expect(byId[ids['null-timestamps']].updated_at).toBeNull()
    expect(util.types.isDate(byId[ids['partial-usage']].created_at)).toBe(true)
    expect(byId[ids['partial-usage']].created_at.toISOString()).toBe('2025-01-02T03:04:05.000Z')
    expect(byId[ids['partial-usage']].usage).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 7 })
    expect(byId[ids['null-active']].is_active).toBe(true)
    expect((await S.getApiKeys(42, { isActive: null })).map((r) => r.id)).toEqual([ids['null-active']])
  })
})

describe('incrementUsageAndGetApiKey', () => {
  test('serves and counts every legacy row, and the original code still opens them', async () => {
    expect(await S.incrementUsageAndGetApiKey(42, { aiModelId: 1 })).toBe('sk-null-timestamps')
    expect(await S.incrementUsageAndGetApiKey(42, { aiModelId: 2 })).toBe('sk-partial-usage')
    expect(await S.incrementUsageAndGetApiKey(42, { aiModelId: 3 })).toBe('sk-null-active')
    expect(await S.getUsage(ids['partial-usage'])).toEqual({ dailyUse: 1, monthlyUse: 1, totalUse: 8 })
    expect((await S.getUsage(ids['null-timestamps'])).totalUse).toBe(4)
    const { rows } = await db.query('SELECT encrypted_api_key, encrypted_aes_key, last_used_at, is_active FROM ps_private_access_store WHERE id = $1', [ids['null-active']])
    expect(original.decryptApiKey(rows[0].encrypted_api_key, rows[0].encrypted_aes_key, keys.privateKey)).toBe('sk-null-active')
    expect(rows[0].last_used_at).not.toBeNull()
    expect(rows[0].is_active).toBeNull() // served, but not rewritten
  })
})

describe('addPreEncryptedKey', () => {
  test('writes rows the original model reads: same columns, serial ids', async () => {
    const sealed = S.encryptApiKey('sk-new')
    const rec = await S.addPreEncryptedKey(42, 5, 4, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, { maxBudget: { perDay: 1, petMonth: 2, total: 3 }, emailNotificationBudgetThresholds: { daily: 0.5, monthly: 0.5 } })
    expect(rec.id).toBe(ids['null-active'] + 1)
    const { rows } = await db.query('SELECT * FROM ps_private_access_store WHERE id = $1', [rec.id])
    expect(rows[0]).toMatchObject({ group_id: 42, user_id: 5, ai_model_id: 4, external_api_id: null, is_active: true, usage: { dailyUse: 0, monthlyUse: 0, totalUse: 0 } })
    expect(rows[0].configuration.maxBudget.petMonth).toBe(2)
    expect(original.decryptApiKey(rows[0].encrypted_api_key, rows[0].encrypted_aes_key, keys.privateKey)).toBe('sk-new')
  })
})

describe('the schema', () => {
  test("PolicySynth's table is exactly what the migration made; the only additions are the package's own tables and function", async () => {
    const after = (await db.query(SCHEMA)).rows[0].schema
    expect(after).toEqual({
      ...schemaBefore,
      tables: ['ps_private_access_events', 'ps_private_access_holds', 'ps_private_access_requests', 'ps_private_access_store'],
      functions: ['ps_private_access_holds_state'],
    })
    expect(schemaBefore.tables).toEqual(['ps_private_access_store'])
    expect(after.indexes).toHaveLength(5)
    expect(schemaBefore.functions).toEqual([])
  })
})
