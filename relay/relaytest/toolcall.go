package relaytest

// WithToolCall makes ModelTools and ModelReasoningTools call the tool name
// with the arguments args (compact JSON, sent as they are) instead of
// get_weather and get_time, so that a real client can be made to run one of
// its own tools (Claude Code's Bash, Gemini CLI's run_shell_command).
// Several WithToolCall options make parallel calls, in the order given. As
// with the default calls, a call is made only when the request declares a
// tool of that name, and a request with tool results in its last user turn
// is answered "Results: " and the results' texts. Without this option the
// calls are WeatherTool and TimeTool.
func WithToolCall(name, args string) Option {
	return func(c *config) { c.calls = append(c.calls, toolCall{name, args}) }
}

// toolCalls returns the calls ModelTools makes when their tools are
// declared.
func (c *config) toolCalls() []toolCall {
	if c.calls != nil {
		return c.calls
	}
	return scenarioCalls
}
