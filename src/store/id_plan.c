/*
 * id_plan.c — constraints on id for the store's virtual tables (see
 * id_plan.h).
 */
#include "store/id_plan.h"

#include <math.h>
#include <stddef.h>

/* What cs_id_plan_choose chose, as idxNum bits; the bounds come in argv in
 * this order: lower first. */
enum plan {
    PLAN_LOWER = 1, /* argv has a lower bound of id */
    PLAN_UPPER = 2, /* ... and/or an upper one (the same argument for =) */
    PLAN_DESC = 4,  /* rows in descending id order */
    PLAN_EQUAL = 8, /* one argument is both bounds */
    PLAN_COLUMNS_SHIFT = 4, /* then the columns used, a bit each */
};

/* The tests go in idxStr, two characters each: the column as
 * TEST_CODE + column, and the op (never 0); their arguments follow the
 * bounds in argv, in the same order. */
#define TEST_CODE '0'

static int is_test(const struct sqlite3_index_constraint *c, int id_column)
{
    if (!c->usable || c->iColumn < 0 || c->iColumn >= 64 || c->iColumn == id_column)
        return 0;
    switch (c->op) {
    case SQLITE_INDEX_CONSTRAINT_EQ:
    case SQLITE_INDEX_CONSTRAINT_GT:
    case SQLITE_INDEX_CONSTRAINT_GE:
    case SQLITE_INDEX_CONSTRAINT_LT:
    case SQLITE_INDEX_CONSTRAINT_LE:
        return 1;
    default:
        return c->op >= SQLITE_INDEX_CONSTRAINT_FUNCTION;
    }
}


int cs_id_plan_choose(sqlite3_index_info *info, int id_column)
{
    int lower = -1, upper = -1, equal = -1, tests[CS_ID_PLAN_MAX_TESTS], ntests = 0;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (is_test(c, id_column) && ntests < CS_ID_PLAN_MAX_TESTS)
            tests[ntests++] = i;
        if (!c->usable || (c->iColumn != id_column && c->iColumn != -1))
            continue;
        switch (c->op) {
        case SQLITE_INDEX_CONSTRAINT_EQ:
            equal = i;
            break;
        case SQLITE_INDEX_CONSTRAINT_GT:
        case SQLITE_INDEX_CONSTRAINT_GE:
            lower = i;
            break;
        case SQLITE_INDEX_CONSTRAINT_LT:
        case SQLITE_INDEX_CONSTRAINT_LE:
            upper = i;
            break;
        default:
            break;
        }
    }
    /* SQLite checks every constraint again (omit stays 0), so a bound only
     * needs to be no narrower than its constraint. */
    int plan = 0, arg = 1;
    if (equal >= 0) {
        plan |= PLAN_LOWER | PLAN_UPPER | PLAN_EQUAL;
        info->aConstraintUsage[equal].argvIndex = arg++;
        info->estimatedCost = 10;
        info->estimatedRows = 1;
        info->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
    } else {
        if (lower >= 0) {
            plan |= PLAN_LOWER;
            info->aConstraintUsage[lower].argvIndex = arg++;
        }
        if (upper >= 0) {
            plan |= PLAN_UPPER;
            info->aConstraintUsage[upper].argvIndex = arg++;
        }
        /* What each shape of plan costs, in rows read. */
        double rows = lower >= 0 && upper >= 0 ? 1e4 : lower >= 0 || upper >= 0 ? 1e6 : 1e7;
        info->estimatedCost = rows;
        info->estimatedRows = (sqlite3_int64)rows;
    }
    if (ntests) {
        char *idx = sqlite3_malloc(2 * ntests + 1);
        if (!idx)
            return SQLITE_NOMEM;
        for (int k = 0; k < ntests; k++) {
            const struct sqlite3_index_constraint *c = &info->aConstraint[tests[k]];
            idx[2 * k] = (char)(TEST_CODE + c->iColumn);
            idx[2 * k + 1] = (char)c->op;
            info->aConstraintUsage[tests[k]].argvIndex = arg++;
        }
        idx[2 * ntests] = '\0';
        info->idxStr = idx;
        info->needToFreeIdxStr = 1;
    }
    if (info->nOrderBy == 1 && (info->aOrderBy[0].iColumn == id_column || info->aOrderBy[0].iColumn == -1)) {
        info->orderByConsumed = 1;
        if (info->aOrderBy[0].desc)
            plan |= PLAN_DESC;
    }
    /* The columns the statement reads go with the plan, so that a scan
     * decodes only those. */
    info->idxNum = plan | (int)((info->colUsed & ((1u << CS_ID_PLAN_COLUMNS) - 1)) << PLAN_COLUMNS_SHIFT);
    return SQLITE_OK;
}

unsigned cs_id_plan_columns(int plan)
{
    return ((unsigned)plan >> PLAN_COLUMNS_SHIFT) & ((1u << CS_ID_PLAN_COLUMNS) - 1);
}

int64_t cs_id_plan_bound(sqlite3_value *value, int lower)
{
    switch (sqlite3_value_type(value)) {
    case SQLITE_INTEGER:
        return sqlite3_value_int64(value);
    case SQLITE_FLOAT: {
        double d = lower ? floor(sqlite3_value_double(value)) : ceil(sqlite3_value_double(value));
        if (d != d)
            return lower ? INT64_MIN : INT64_MAX;
        if (d <= -9.2e18)
            return INT64_MIN;
        if (d >= 9.2e18)
            return INT64_MAX;
        return (int64_t)d;
    }
    default:
        return lower ? INT64_MIN : INT64_MAX;
    }
}

void cs_id_plan_range(int plan, const char *idx, int argc, sqlite3_value **argv, int64_t *lo, int64_t *hi,
                      int *desc, struct cs_id_plan_test *tests, int *ntests)
{
    *desc = (plan & PLAN_DESC) != 0;
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    int arg = 0;
    if ((plan & PLAN_EQUAL) && argc > 0) {
        *lo = cs_id_plan_bound(argv[0], 1);
        *hi = cs_id_plan_bound(argv[0], 0);
        arg = 1;
    } else {
        if ((plan & PLAN_LOWER) && arg < argc)
            *lo = cs_id_plan_bound(argv[arg++], 1);
        if ((plan & PLAN_UPPER) && arg < argc)
            *hi = cs_id_plan_bound(argv[arg++], 0);
    }
    *ntests = 0;
    for (size_t k = 0; idx && idx[k] && idx[k + 1] && arg < argc && *ntests < CS_ID_PLAN_MAX_TESTS; k += 2)
        tests[(*ntests)++] = (struct cs_id_plan_test){idx[k] - TEST_CODE, (unsigned char)idx[k + 1], argv[arg++]};
}
