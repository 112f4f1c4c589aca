/**
 * The DynamoDB expression subset the lease guard speaks (docs/lease.md), parsed and evaluated
 * as DynamoDB does: `SET #a = :v, #b = if_not_exists(#c, :z) + :one` (number arithmetic) and
 * conditions built from `attribute_exists(#x)`, `attribute_not_exists(#x)`, `#x = :v`, `AND`,
 * `OR` and parentheses. Attribute names only through `#placeholders`. Everything else (REMOVE,
 * `-`, `<>`, NOT, other functions, bare names, document paths) is refused with an
 * ExpressionError, which the stand-in answers as a ValidationException, so a guard that drifts
 * from the subset fails loudly in the tests instead of meeting different rules in the cloud.
 */

export type AttributeValue = { S: string } | { N: string } | { BOOL: boolean } | { NULL: true };
export type Item = Record<string, AttributeValue>;

/** A request DynamoDB would refuse with a ValidationException (the message as DynamoDB words it, where it has one). */
export class ExpressionError extends Error {}

type Operand = { kind: "name"; placeholder: string } | { kind: "value"; placeholder: string };
type UpdateValue = Operand | { kind: "ifNotExists"; path: string; fallback: Operand } | { kind: "plus"; left: UpdateValue; right: UpdateValue };
export interface SetAction {
    /** The placeholder (`#owner`) of the attribute set. */
    path: string;
    value: UpdateValue;
}
export type Condition =
    { kind: "or" | "and"; left: Condition; right: Condition } | { kind: "exists" | "notExists"; path: string } | { kind: "equals"; left: Operand; right: Operand };

interface Token {
    kind: "name" | "value" | "word" | "symbol" | "end";
    text: string;
}

const TOKEN = /\s*(?:(#[A-Za-z0-9_]+)|(:[A-Za-z0-9_]+)|([A-Za-z_][A-Za-z0-9_]*)|(<>|<=|>=|[=+\-,()<>.[\]]))/y;

function tokenize(text: string, clause: string): Token[] {
    const tokens: Token[] = [];
    let at = 0;
    while (text.slice(at).trim() !== "") {
        TOKEN.lastIndex = at;
        const m = TOKEN.exec(text);
        if (!m) throw new ExpressionError(`Invalid ${clause}: Syntax error; token: "${text.slice(at).trim()[0]}", near: "${text.slice(at).trim().slice(0, 12)}"`);
        const kind = m[1] ? "name" : m[2] ? "value" : m[3] ? "word" : "symbol";
        tokens.push({ kind, text: m[1] ?? m[2] ?? m[3] ?? m[4] });
        at = TOKEN.lastIndex;
    }
    tokens.push({ kind: "end", text: "<EOF>" });
    return tokens;
}

class Parser {
    private at = 0;
    constructor(
        private readonly tokens: Token[],
        private readonly clause: string,
    ) {}

    peek(): Token {
        return this.tokens[this.at];
    }

    next(): Token {
        return this.tokens[this.at++];
    }

    /** A token DynamoDB would take but the stand-in does not serve, or one DynamoDB would not take either. */
    refuse(token: Token): never {
        if (token.kind === "end") throw new ExpressionError(`Invalid ${this.clause}: Syntax error; token: "<EOF>", near: "${this.tokens[this.at - 2]?.text ?? ""}"`);
        throw new ExpressionError(`Invalid ${this.clause}: token "${token.text}" is outside the subset the lease stand-in serves (docs/lease.md)`);
    }

    expectSymbol(symbol: string): void {
        const token = this.next();
        if (token.kind !== "symbol" || token.text !== symbol) this.refuse(token);
    }

    isWord(word: string): boolean {
        const token = this.peek();
        return token.kind === "word" && token.text.toUpperCase() === word;
    }

    name(): string {
        const token = this.next();
        if (token.kind !== "name") this.refuse(token);
        return token.text;
    }

    /** A `#name` or a `:value`. */
    operand(): Operand {
        const token = this.next();
        if (token.kind === "name") return { kind: "name", placeholder: token.text };
        if (token.kind === "value") return { kind: "value", placeholder: token.text };
        return this.refuse(token);
    }

    end(): void {
        const token = this.peek();
        if (token.kind !== "end") this.refuse(token);
    }
}

export function parseUpdateExpression(text: string): SetAction[] {
    const p = new Parser(tokenize(text, "UpdateExpression"), "UpdateExpression");
    if (!p.isWord("SET")) p.refuse(p.peek());
    p.next();
    const actions: SetAction[] = [];
    for (;;) {
        const path = p.name();
        p.expectSymbol("=");
        let value = updateTerm(p);
        if (p.peek().kind === "symbol" && p.peek().text === "+") {
            p.next();
            value = { kind: "plus", left: value, right: updateTerm(p) };
        }
        actions.push({ path, value });
        if (p.peek().kind === "symbol" && p.peek().text === ",") {
            p.next();
            continue;
        }
        p.end();
        return actions;
    }
}

function updateTerm(p: Parser): UpdateValue {
    const token = p.peek();
    if (token.kind === "word" && token.text === "if_not_exists") {
        p.next();
        p.expectSymbol("(");
        const path = p.name();
        p.expectSymbol(",");
        const fallback = p.operand();
        p.expectSymbol(")");
        return { kind: "ifNotExists", path, fallback };
    }
    return p.operand();
}

export function parseConditionExpression(text: string): Condition {
    const p = new Parser(tokenize(text, "ConditionExpression"), "ConditionExpression");
    const condition = orCondition(p);
    p.end();
    return condition;
}

function orCondition(p: Parser): Condition {
    let left = andCondition(p);
    while (p.isWord("OR")) {
        p.next();
        left = { kind: "or", left, right: andCondition(p) };
    }
    return left;
}

function andCondition(p: Parser): Condition {
    let left = primaryCondition(p);
    while (p.isWord("AND")) {
        p.next();
        left = { kind: "and", left, right: primaryCondition(p) };
    }
    return left;
}

function primaryCondition(p: Parser): Condition {
    const token = p.peek();
    if (token.kind === "symbol" && token.text === "(") {
        p.next();
        const inner = orCondition(p);
        p.expectSymbol(")");
        return inner;
    }
    if (token.kind === "word" && (token.text === "attribute_exists" || token.text === "attribute_not_exists")) {
        p.next();
        p.expectSymbol("(");
        const path = p.name();
        p.expectSymbol(")");
        return { kind: token.text === "attribute_exists" ? "exists" : "notExists", path };
    }
    const left = p.operand();
    p.expectSymbol("=");
    return { kind: "equals", left, right: p.operand() };
}

/**
 * Resolves the placeholders of a request's expressions, as DynamoDB does: each one used must be
 * defined, and each one defined must be used.
 */
export class Placeholders {
    private usedNames = new Set<string>();
    private usedValues = new Set<string>();

    constructor(
        private readonly names: Record<string, string>,
        private readonly values: Record<string, AttributeValue>,
    ) {}

    attribute(placeholder: string, clause: string): string {
        const name = this.names[placeholder];
        if (name === undefined) {
            throw new ExpressionError(`Invalid ${clause}: An expression attribute name used in the document path is not defined; attribute name: ${placeholder}`);
        }
        this.usedNames.add(placeholder);
        return name;
    }

    value(placeholder: string, clause: string): AttributeValue {
        const value = this.values[placeholder];
        if (value === undefined) {
            throw new ExpressionError(`Invalid ${clause}: An expression attribute value used in expression is not defined; attribute value: ${placeholder}`);
        }
        this.usedValues.add(placeholder);
        return value;
    }

    private checkAllUsed(): void {
        const unusedNames = Object.keys(this.names).filter((n) => !this.usedNames.has(n));
        if (unusedNames.length) throw new ExpressionError(`Value provided in ExpressionAttributeNames unused in expressions: keys: {${unusedNames.join(", ")}}`);
        const unusedValues = Object.keys(this.values).filter((v) => !this.usedValues.has(v));
        if (unusedValues.length) throw new ExpressionError(`Value provided in ExpressionAttributeValues unused in expressions: keys: {${unusedValues.join(", ")}}`);
    }

    /**
     * Resolves every placeholder of the expressions up front, as DynamoDB checks them before it
     * reads the item (evaluation short-circuits AND, OR and if_not_exists).
     */
    resolve(actions: SetAction[], condition: Condition | undefined): void {
        for (const action of actions) {
            this.attribute(action.path, "UpdateExpression");
            this.resolveValue(action.value);
        }
        if (condition) this.resolveCondition(condition);
        this.checkAllUsed();
    }

    private resolveOperand(o: Operand, clause: string): void {
        if (o.kind === "name") this.attribute(o.placeholder, clause);
        else this.value(o.placeholder, clause);
    }

    private resolveValue(value: UpdateValue): void {
        const clause = "UpdateExpression";
        switch (value.kind) {
            case "name":
            case "value":
                return this.resolveOperand(value, clause);
            case "ifNotExists":
                this.attribute(value.path, clause);
                return this.resolveOperand(value.fallback, clause);
            case "plus":
                this.resolveValue(value.left);
                return this.resolveValue(value.right);
        }
    }

    private resolveCondition(condition: Condition): void {
        const clause = "ConditionExpression";
        switch (condition.kind) {
            case "or":
            case "and":
                this.resolveCondition(condition.left);
                return this.resolveCondition(condition.right);
            case "exists":
            case "notExists":
                this.attribute(condition.path, clause);
                return;
            case "equals":
                this.resolveOperand(condition.left, clause);
                return this.resolveOperand(condition.right, clause);
        }
    }
}

export function evaluateCondition(condition: Condition, item: Item, placeholders: Placeholders): boolean {
    const clause = "ConditionExpression";
    switch (condition.kind) {
        case "or":
            return evaluateCondition(condition.left, item, placeholders) || evaluateCondition(condition.right, item, placeholders);
        case "and":
            return evaluateCondition(condition.left, item, placeholders) && evaluateCondition(condition.right, item, placeholders);
        case "exists":
            return item[placeholders.attribute(condition.path, clause)] !== undefined;
        case "notExists":
            return item[placeholders.attribute(condition.path, clause)] === undefined;
        case "equals": {
            const resolve = (o: Operand) => (o.kind === "name" ? item[placeholders.attribute(o.placeholder, clause)] : placeholders.value(o.placeholder, clause));
            const left = resolve(condition.left);
            const right = resolve(condition.right);
            return left !== undefined && right !== undefined && sameValue(left, right);
        }
    }
}

/** The item after the SET actions: every right-hand side is read from the item as it was before the update. */
export function applySetActions(actions: SetAction[], item: Item, keyAttribute: string, placeholders: Placeholders): Item {
    const clause = "UpdateExpression";
    const assigned = new Map<string, AttributeValue>();
    for (const action of actions) {
        const name = placeholders.attribute(action.path, clause);
        if (name === keyAttribute) throw new ExpressionError(`Cannot update attribute ${name}. This attribute is part of the key`);
        if (assigned.has(name)) {
            throw new ExpressionError(
                `Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [${name}], path two: [${name}]`,
            );
        }
        assigned.set(name, updateValue(action.value, item, placeholders));
    }
    return { ...item, ...Object.fromEntries(assigned) };
}

function updateValue(value: UpdateValue, item: Item, placeholders: Placeholders): AttributeValue {
    const clause = "UpdateExpression";
    switch (value.kind) {
        case "value":
            return placeholders.value(value.placeholder, clause);
        case "name": {
            const found = item[placeholders.attribute(value.placeholder, clause)];
            if (found === undefined) throw new ExpressionError("The provided expression refers to an attribute that does not exist in the item");
            return found;
        }
        case "ifNotExists": {
            const found = item[placeholders.attribute(value.path, clause)];
            return found ?? updateValue(value.fallback, item, placeholders);
        }
        case "plus": {
            const left = updateValue(value.left, item, placeholders);
            const right = updateValue(value.right, item, placeholders);
            if (!("N" in left) || !("N" in right)) throw new ExpressionError("An operand in the update expression has an incorrect data type");
            return { N: addDecimals(left.N, right.N) };
        }
    }
}

function sameValue(a: AttributeValue, b: AttributeValue): boolean {
    if ("S" in a && "S" in b) return a.S === b.S;
    if ("N" in a && "N" in b) return normaliseNumber(a.N) === normaliseNumber(b.N);
    if ("BOOL" in a && "BOOL" in b) return a.BOOL === b.BOOL;
    return "NULL" in a && "NULL" in b;
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

/**
 * Checks an attribute value a request carries: one of the types the lease uses (S, N, BOOL,
 * NULL), numbers in plain decimal notation, and returns it with its number normalised as
 * DynamoDB stores it.
 */
export function checkAttributeValue(value: unknown, where: string): AttributeValue {
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ExpressionError(`${where}: not an AttributeValue`);
    const types = Object.keys(value);
    if (types.length !== 1) throw new ExpressionError("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes");
    const [type] = types;
    const content = (value as Record<string, unknown>)[type];
    if (type === "S" && typeof content === "string") return { S: content };
    if (type === "N" && typeof content === "string") {
        if (!DECIMAL.test(content.trim())) throw new ExpressionError(`The parameter cannot be converted to a numeric value: ${content}`);
        return { N: normaliseNumber(content) };
    }
    if (type === "BOOL" && typeof content === "boolean") return { BOOL: content };
    if (type === "NULL" && content === true) return { NULL: true };
    throw new ExpressionError(`${where}: type ${type} is outside the subset the lease stand-in serves (S, N, BOOL, NULL)`);
}

function splitDecimal(n: string): { digits: bigint; scale: number } {
    const m = DECIMAL.exec(n.trim());
    if (!m) throw new ExpressionError(`The parameter cannot be converted to a numeric value: ${n}`);
    const fraction = m[3] ?? "";
    const digits = BigInt(m[2] + fraction);
    return { digits: m[1] === "-" ? -digits : digits, scale: fraction.length };
}

function formatDecimal(digits: bigint, scale: number): string {
    const sign = digits < 0n ? "-" : "";
    const text = (digits < 0n ? -digits : digits).toString().padStart(scale + 1, "0");
    const whole = scale ? text.slice(0, -scale) : text;
    const fraction = scale ? text.slice(-scale).replace(/0+$/, "") : "";
    const body = fraction ? `${whole}.${fraction}` : whole;
    return body === "0" ? "0" : sign + body;
}

function normaliseNumber(n: string): string {
    const { digits, scale } = splitDecimal(n);
    return formatDecimal(digits, scale);
}

/** Exact decimal addition (DynamoDB numbers have 38 digits of precision; the lease's epoch is an integer). */
function addDecimals(a: string, b: string): string {
    const x = splitDecimal(a);
    const y = splitDecimal(b);
    const scale = Math.max(x.scale, y.scale);
    const widen = (d: { digits: bigint; scale: number }) => d.digits * 10n ** BigInt(scale - d.scale);
    return formatDecimal(widen(x) + widen(y), scale);
}
