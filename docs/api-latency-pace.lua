-- One request per connection every 10 ms (plus its latency).
function delay()
  return 10
end
